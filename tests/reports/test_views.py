"""Report pages: roles, request + status polling, downloads, preview, key page, audit log."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from pixaudit.accounts.models import Role
from pixaudit.accounts.permissions import can
from pixaudit.auditlog.models import AuditEvent
from pixaudit.lib.middleware import CONTENT_SECURITY_POLICY
from pixaudit.reports import signing
from pixaudit.reports.models import Report
from tests.reports.pack_helpers import pack_via_page
from tests.security.helpers import client_for, user_make

pytestmark = pytest.mark.smoke


def _urls(report_id: int) -> list[str]:
    return [
        reverse("reports:list"),
        reverse("reports:detail", args=[report_id]),
        reverse("reports:status", args=[report_id]),
        reverse("reports:download", args=[report_id]),
        reverse("reports:preview", args=[report_id]),
        reverse("reports:signing_key"),
        reverse("reports:signing_key_pem"),
    ]


def test_every_page_requires_login(client, stored_report):
    for url in _urls(stored_report.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert reverse("accounts:login") in response["Location"]


def test_request_a_report_and_poll_it(
    manager_client, manager, scope, monkeypatch, django_capture_on_commit_callbacks
):
    from pixaudit.reports import services
    from pixaudit.reports.rendering import RenderedPdf

    # The real render is covered in test_report; keep this one quick.
    fake = RenderedPdf(b"%PDF-x", 1)
    monkeypatch.setattr(services, "report_pdf", lambda data, progress=None: fake)
    client = manager_client
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
    assert report.created_by == manager
    event = AuditEvent.objects.get(action="report.requested")
    assert event.actor_id == manager.pk and event.object_id == str(report.pk)
    assert event.details["framework"] == "soc2-2017" and event.details["report_id"] == report.pk
    detail = client.get(response["Location"])
    assert b"reports/report-status.js" in detail.content
    assert detail["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert b"<script>" not in detail.content and b"style=" not in detail.content
    status = client.get(reverse("reports:status", args=[report.pk])).json()
    assert status["status"] == "succeeded" and status["progress"] == 100
    assert status["sha256"] == report.sha256 and status["download_url"]
    assert status["pack_url"]
    pdf = client.get(status["download_url"])
    assert b"".join(pdf.streaming_content) == b"%PDF-x"
    report.refresh_from_db()
    event = AuditEvent.objects.get(action="report.downloaded")
    assert event.actor_id == manager.pk and event.details["sha256"] == report.sha256
    assert event.details["period"] == {
        "start": report.period_start.isoformat(),
        "end": report.period_end.isoformat(),
    }


def test_bad_period_is_refused(manager_client, catalogs):
    client = manager_client
    response = client.post(
        reverse("reports:list"),
        {"framework": "soc2-2017", "start": "2026-02-01", "end": "2026-01-01"},
    )
    assert response.status_code == 200 and b"ends before it starts" in response.content
    assert not Report.objects.exists()


def test_pack_download_preview_and_key_page(manager_client, manager, stored_report):
    import hashlib

    client = manager_client
    build, data = pack_via_page(client, reverse("reports:pack", args=[stored_report.pk]))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "manifest.sig" in zf.namelist()
    event = AuditEvent.objects.get(action="pack.downloaded")
    assert event.actor_id == manager.pk
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["report_id"] == stored_report.pk
    assert event.details["report_sha256"] == stored_report.sha256
    assert event.details["pack_build_id"] == build.pk and event.details["sha256"] == build.sha256
    preview = client.get(reverse("reports:preview", args=[stored_report.pk]))
    assert preview.status_code == 200 and b'id="matrix"' in preview.content
    assert b"reports/report.css" in preview.content
    key_page = client.get(reverse("reports:signing_key"))
    assert signing.public_key_pem() in key_page.content
    assert signing.public_key_fingerprint().encode() in key_page.content
    pem = client.get(reverse("reports:signing_key_pem"))
    assert pem.content == signing.public_key_pem()


def test_permissions_follow_the_roles_table(db):
    engineer = user_make(Role.ENGINEER, "eng-r")
    auditor = user_make(Role.AUDITOR, "aud-r")
    manager = user_make(Role.COMPLIANCE_MANAGER, "man-r")
    actions = ("reports.view", "reports.create", "reports.download", "packs.download",
               "signing_key.view")  # fmt: skip
    assert can(engineer, "reports.view") and can(engineer, "reports.download")
    assert not can(engineer, "reports.create")
    assert not can(engineer, "packs.download")
    assert all(can(manager, p) for p in actions)
    assert not any(can(auditor, p) for p in actions)
    with pytest.raises(KeyError):
        can(manager, "reports.delete")


def test_engineer_reads_but_neither_requests_nor_packs(client, user, stored_report):
    client.force_login(user)
    page = client.get(reverse("reports:list"))
    assert page.status_code == 200 and b"New report" not in page.content
    assert reverse("reports:pack", args=[stored_report.pk]).encode() not in page.content
    refused = client.post(
        reverse("reports:list"),
        {"framework": "soc2-2017", "start": "2026-01-01", "end": "2026-01-02"},
    )
    assert refused.status_code == 403 and Report.objects.count() == 1
    detail = client.get(reverse("reports:detail", args=[stored_report.pk]))
    assert reverse("reports:pack", args=[stored_report.pk]).encode() not in detail.content
    status = client.get(reverse("reports:status", args=[stored_report.pk])).json()
    assert status["download_url"] and not status["pack_url"]
    assert client.post(reverse("reports:pack", args=[stored_report.pk])).status_code == 403
    assert client.get(reverse("reports:download", args=[stored_report.pk])).status_code == 200
    assert AuditEvent.objects.filter(action="report.downloaded", actor_id=user.pk).count() == 1
    assert not AuditEvent.objects.filter(action="pack.downloaded").exists()


def test_auditors_never_reach_reports(stored_report):
    auditor = client_for(user_make(Role.AUDITOR, "aud-x"), verified=False)
    for url in _urls(stored_report.pk):
        assert auditor.get(url).status_code == 403, url
