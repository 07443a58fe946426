"""Issue 20: the data-subject request register's evidence (``privacy_requests``) is left out
of what an engagement's auditors see and of the packs built for them unless the engagement
shares it, and out of managers' report packs unless the report selects it."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits.selectors import engagement_evidence_list, engagement_reports
from pixaudit.audits.selectors_controls import engagement_controls
from pixaudit.evidence.models import EvidenceItem
from pixaudit.privacy.services import request_create
from pixaudit.reports.models import Report
from pixaudit.reports.services import (
    pack_build_tempfile,
    report_render,
    report_render_now,
    report_scope_resolve,
)
from tests.reports.pack_helpers import pack_via_page
from tests.reviews.fixtures import catalogs, media_root  # noqa: F401
from tests.security.helpers import client_for, engagement_make, invitation_make, user_make

pytestmark = pytest.mark.django_db

FRAMEWORK = "iso27001-2022"
NOTICE = b"The data-subject request register is not shared with this engagement"


@pytest.fixture
def setup(catalogs, media_root):  # noqa: F811
    today = timezone.now().date()
    engagement = engagement_make(
        framework=catalogs[FRAMEWORK], start=today - timedelta(days=30), end=today
    )
    auditor = user_make(Role.AUDITOR)
    manager = user_make(Role.COMPLIANCE_MANAGER)
    invitation_make(engagement=engagement, user=auditor)
    request_create(reference="DSR-1", kind="access", received_on=today - timedelta(days=3))
    item = EvidenceItem.objects.get(collector_key="privacy_requests")
    return engagement, auditor, manager, item


def _pack_members(data: bytes) -> tuple[list[str], list[str]]:
    """The ZIP's names and the collector keys its evidence index lists."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        index = next(n for n in names if n == "evidence-index.csv")
        rows = list(csv.DictReader(io.StringIO(zf.read(index).decode())))
    return names, [r["collector_key"] for r in rows]


def _auditor_pack(engagement, auditor) -> tuple[list[str], list[str]]:
    report = report_render_now(
        scope=report_scope_resolve(framework_key=FRAMEWORK, engagement_id=engagement.pk)
    )
    assert report.status == "succeeded", report.error_message
    url = reverse("audits:report_pack", kwargs={"pk": engagement.pk, "report_pk": report.pk})
    _build, data = pack_via_page(client_for(auditor, verified=False), url)
    return _pack_members(data)


def _urls(engagement, item) -> dict[str, str]:
    kwargs = {"pk": engagement.pk, "evidence_pk": item.pk}
    return {
        "detail": reverse("audits:evidence_detail", kwargs=kwargs),
        "download": reverse("audits:evidence_download", kwargs=kwargs),
    }


def _in_controls(engagement) -> bool:
    return any(
        e.collector_key == "privacy_requests"
        for fc in engagement_controls(engagement=engagement)
        for c in fc.controls
        for e in c.section.evidence
    )


def test_not_shared_the_auditor_cannot_see_download_or_pack_the_register(setup):
    engagement, auditor, _manager, item = setup
    assert not engagement.include_privacy_register  # the default
    client = client_for(auditor, verified=False)
    page = client.get(reverse("audits:evidence_list", args=[engagement.pk]))
    assert page.status_code == 200 and NOTICE in page.content
    assert _urls(engagement, item)["detail"].encode() not in page.content
    for url in _urls(engagement, item).values():
        assert client.get(url).status_code == 404
    overview = client.get(reverse("audits:engagement_detail", args=[engagement.pk]))
    assert NOTICE in overview.content
    assert not engagement_evidence_list(engagement=engagement).filter(pk=item.pk).exists()
    assert not _in_controls(engagement)

    names, keys = _auditor_pack(engagement, auditor)
    assert "privacy_requests" not in keys
    assert not [n for n in names if "privacy_requests" in n]


def test_shared_through_the_edit_form_the_auditor_sees_downloads_and_packs_it(setup):
    engagement, auditor, manager, item = setup
    edit = reverse("audits:engagement_edit", args=[engagement.pk])
    form = {"name": engagement.name, "frameworks": [f.pk for f in engagement.frameworks.all()],
            "window_start": engagement.window_start.isoformat(),
            "window_end": engagement.window_end.isoformat(),
            "include_privacy_register": "on"}  # fmt: skip
    response = client_for(manager).post(edit, form)
    assert response.status_code == 302
    engagement.refresh_from_db()
    assert engagement.include_privacy_register
    event = AuditEvent.objects.get(action="engagement.updated")
    assert event.actor_id == manager.pk
    assert event.details["changed"] == {"include_privacy_register": {"from": False, "to": True}}
    # Saving again unchanged is refused with a message, nothing logged.
    again = client_for(manager).post(edit, form)
    assert again.status_code == 200 and b"Nothing changed" in again.content
    assert AuditEvent.objects.filter(action="engagement.updated").count() == 1

    client = client_for(auditor, verified=False)
    page = client.get(reverse("audits:evidence_list", args=[engagement.pk]))
    assert NOTICE not in page.content
    assert _urls(engagement, item)["detail"].encode() in page.content
    assert client.get(_urls(engagement, item)["detail"]).status_code == 200
    download = client.get(_urls(engagement, item)["download"])
    assert download.status_code == 200 and download["X-Content-SHA256"] == item.sha256
    assert _in_controls(engagement)

    names, keys = _auditor_pack(engagement, auditor)
    assert "privacy_requests" in keys
    assert [n for n in names if "privacy_requests" in n]


def test_a_report_rendered_while_shared_is_withdrawn_when_sharing_stops(setup):
    engagement, _auditor, manager, _item = setup
    engagement.include_privacy_register = True
    engagement.save()
    report = report_render_now(
        scope=report_scope_resolve(framework_key=FRAMEWORK, engagement_id=engagement.pk)
    )
    assert report.include_privacy_register
    assert list(engagement_reports(engagement=engagement)) == [report]
    engagement.include_privacy_register = False
    engagement.save()
    assert list(engagement_reports(engagement=engagement)) == []
    # Asking for the engagement's scope with the option cannot override the engagement.
    scope = report_scope_resolve(
        framework_key=FRAMEWORK, engagement_id=engagement.pk, include_privacy_register=True
    )
    assert scope.include_privacy_register is False


def test_manager_pack_holds_the_register_only_when_the_report_selects_it(setup):
    _engagement, _auditor, manager, _item = setup
    client = client_for(manager)
    page = client.get(reverse("reports:list"))
    assert b"Include the data-subject request register" in page.content
    today = timezone.now().date()
    form = {"framework": FRAMEWORK, "start": (today - timedelta(days=7)).isoformat(),
            "end": today.isoformat()}  # fmt: skip
    packs = {}
    for selected in (False, True):
        data = {**form, "include_privacy_register": "on"} if selected else form
        before = Report.objects.count()
        assert client.post(reverse("reports:list"), data).status_code == 302
        assert Report.objects.count() == before + 1
        report = Report.objects.order_by("-pk").first()
        assert report.include_privacy_register is selected
        report = report_render(report_id=report.pk)
        assert report.status == "succeeded", report.error_message
        built = pack_build_tempfile(report=report)
        with built.file:
            packs[selected] = _pack_members(built.file.read())
        detail = client.get(reverse("reports:detail", args=[report.pk]))
        assert (b"Left out (not selected)" in detail.content) is not selected
    assert "privacy_requests" not in packs[False][1]
    assert not [n for n in packs[False][0] if "privacy_requests" in n]
    assert "privacy_requests" in packs[True][1]
    assert [n for n in packs[True][0] if "privacy_requests" in n]
