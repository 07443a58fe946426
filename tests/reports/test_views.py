"""Report pages: login required, request + status polling, downloads, preview, key page."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from pixaudit.lib.middleware import CONTENT_SECURITY_POLICY
from pixaudit.reports import signing
from pixaudit.reports.models import Report

pytestmark = pytest.mark.smoke


def _urls(report_id: int) -> list[str]:
    return [
        reverse("reports:list"),
        reverse("reports:detail", args=[report_id]),
        reverse("reports:status", args=[report_id]),
        reverse("reports:download", args=[report_id]),
        reverse("reports:preview", args=[report_id]),
        reverse("reports:pack", args=[report_id]),
        reverse("reports:signing_key"),
        reverse("reports:signing_key_pem"),
    ]


def test_every_page_requires_login(client, stored_report):
    for url in _urls(stored_report.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert reverse("accounts:login") in response["Location"]


def test_request_a_report_and_poll_it(
    client, user, scope, monkeypatch, django_capture_on_commit_callbacks
):
    from pixaudit.reports import services
    from pixaudit.reports.rendering import RenderedPdf

    # The real render is covered in test_report; keep this one quick.
    fake = RenderedPdf(b"%PDF-x", 1)
    monkeypatch.setattr(services, "report_pdf", lambda data, progress=None: fake)
    client.force_login(user)
    page = client.get(reverse("reports:list"))
    assert page.status_code == 200 and b"New report" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("reports:list"),
            {"framework": "soc2-2017", "start": scope.period.start, "end": scope.period.end},
        )
    report = Report.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:detail", args=[report.pk])
    assert report.created_by == user
    detail = client.get(response["Location"])
    assert b"reports/report-status.js" in detail.content
    assert detail["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert b"<script>" not in detail.content and b"style=" not in detail.content
    status = client.get(reverse("reports:status", args=[report.pk])).json()
    assert status["status"] == "succeeded" and status["progress"] == 100
    assert status["sha256"] == report.sha256 and status["download_url"]
    pdf = client.get(status["download_url"])
    assert b"".join(pdf.streaming_content) == b"%PDF-x"


def test_bad_period_is_refused(client, user, catalogs):
    client.force_login(user)
    response = client.post(
        reverse("reports:list"),
        {"framework": "soc2-2017", "start": "2026-02-01", "end": "2026-01-01"},
    )
    assert response.status_code == 200 and b"ends before it starts" in response.content
    assert not Report.objects.exists()


def test_pack_download_preview_and_key_page(client, user, stored_report):
    client.force_login(user)
    response = client.get(reverse("reports:pack", args=[stored_report.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "manifest.sig" in zf.namelist()
    preview = client.get(reverse("reports:preview", args=[stored_report.pk]))
    assert preview.status_code == 200 and b'id="matrix"' in preview.content
    assert b"reports/report.css" in preview.content
    key_page = client.get(reverse("reports:signing_key"))
    assert signing.public_key_pem() in key_page.content
    assert signing.public_key_fingerprint().encode() in key_page.content
    pem = client.get(reverse("reports:signing_key_pem"))
    assert pem.content == signing.public_key_pem()
