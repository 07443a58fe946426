"""The register page, its exports, and the auditor's view of one engagement's window."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.exceptions.models import ExceptionRecord
from tests.exceptions.helpers import History, day_at
from tests.security.helpers import client_for, engagement_make, invitation_make, user_make

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/","x")'


@pytest.fixture
def window_world(soc2):
    """An engagement over days 10-20 and exceptions inside, across and outside it."""
    history = History()
    for day in range(1, 31):
        history.day(day, {
            "inside": "fail" if 12 <= day <= 14 else "pass",
            "before": "fail" if day <= 3 else "pass",
            "after": "fail" if day >= 25 else "pass",
            "spanning": "fail" if 5 <= day <= 12 else "pass",
            EVIL: "fail" if day == 16 else "pass",
        })  # fmt: skip
    other = History(name="unmapped")
    for day in (12, 13):
        other.day(day, {"inside-unmapped": "fail"}, assertion="custom_check.unmapped")
    engagement = engagement_make(framework=soc2, start=day_at(10).date(), end=day_at(20).date())
    auditor = user_make(Role.AUDITOR)
    invitation_make(engagement=engagement, user=auditor)
    return history, engagement, auditor


def test_internal_register_filters_and_detail(window_world):
    history, _, _ = window_world
    client = client_for(user_make(Role.COMPLIANCE_MANAGER))
    page = client.get(reverse("exceptions:register")).content.decode()
    for name in ("inside", "before", "after", "spanning", "inside-unmapped"):
        assert f">{name}</code>" in page, name
    assert "Data stores are encrypted at rest" in page
    page = client.get(reverse("exceptions:register") + "?status=open").content.decode()
    assert ">after</code>" in page and ">inside</code>" not in page
    page = client.get(reverse("exceptions:register") + "?status=nope&since=x").content.decode()
    assert "could not be read" in page and "is not a date" in page
    record = ExceptionRecord.objects.get(resource="inside")
    detail = client.get(reverse("exceptions:detail", args=[record.pk])).content.decode()
    assert f"evidence #{history.items[12].seq}" in detail
    assert f"evidence #{history.items[15].seq}" in detail
    assert "soc2-2017:CC6.1" in detail and "3.0 days" in detail


def test_csv_and_xlsx_exports_are_formula_safe(window_world):
    client = client_for(user_make(Role.ENGINEER), verified=False)
    response = client.get(reverse("exceptions:export", args=["csv"]) + "?status=closed")
    assert response["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_resource = {row["resource"]: row for row in rows}
    assert set(by_resource) == {"inside", "before", "spanning", f"'{EVIL}"}
    inside = by_resource["inside"]
    assert inside["duration_days"] == "3.0" and inside["deadline_status"] == "within deadline"
    assert (
        inside["controls"].startswith("iso27001-2022:") or "soc2-2017:CC6.1" in inside["controls"]
    )
    response = client.get(reverse("exceptions:export", args=["xlsx"]))
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["exceptions"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["id", "status", "severity", "assertion", "resource"]
    resources = [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert f"'{EVIL}" in resources and EVIL not in resources
    assert sheet.column_dimensions["E"].width == 40
    assert AuditEvent.objects.filter(action="exceptions.exported").count() == 2
    assert client.get(reverse("exceptions:export", args=["pdf"])).status_code == 404


def test_auditor_sees_the_engagement_window_only(window_world):
    history, engagement, auditor = window_world
    client = client_for(auditor, verified=False)
    url = reverse("exceptions:engagement_register", args=[engagement.pk])
    page = client.get(url).content.decode()
    assert ">inside</code>" in page and ">spanning</code>" in page
    for hidden in ("before", "after", "inside-unmapped"):
        assert f">{hidden}</code>" not in page, hidden
    # Evidence inside the window is linked through the engagement; earlier items are not.
    inside_start = reverse("audits:evidence_detail", args=[engagement.pk, history.items[12].pk])
    spanning_start = reverse("audits:evidence_detail", args=[engagement.pk, history.items[5].pk])
    assert inside_start in page and spanning_start not in page
    assert "(before the window)" in page
    assert client.get(reverse("exceptions:register")).status_code == 403
    response = client.get(reverse("exceptions:engagement_export", args=[engagement.pk, "csv"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["resource"] for r in rows} == {"inside", "spanning", f"'{EVIL}"}
    event = AuditEvent.objects.get(action="exceptions.exported")
    assert event.details["engagement_id"] == engagement.pk
    # Another engagement's auditor: the same 404 as a missing engagement.
    stranger = user_make(Role.AUDITOR)
    other = engagement_make(framework=engagement.frameworks.get(), start=day_at(1).date(),
                            end=day_at(2).date(), name="other")  # fmt: skip
    invitation_make(engagement=other, user=stranger)
    assert client_for(stranger, verified=False).get(url).status_code == 404


def test_manager_pages_post_owner_note_and_acceptance(window_world):
    manager, admin = user_make(Role.COMPLIANCE_MANAGER), user_make(Role.ADMIN)
    record = ExceptionRecord.objects.get(resource="after")
    client = client_for(manager)
    response = client.post(reverse("exceptions:update", args=[record.pk]),
                           {"owner": str(admin.pk), "note": "Ticket OPS-7"})  # fmt: skip
    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.owner, record.note) == (admin, "Ticket OPS-7")
    response = client.post(reverse("exceptions:acceptance_request", args=[record.pk]),
                           {"reason": "Migration planned", "expires_on": "2099-01-31"})  # fmt: skip
    acceptance = record.acceptances.get()
    # The requester cannot approve; the page says so and nothing changes.
    client.post(reverse("exceptions:acceptance_decide", args=[acceptance.pk]),
                {"decision": "approve"})  # fmt: skip
    acceptance.refresh_from_db()
    assert acceptance.status == "requested"
    client_for(admin).post(reverse("exceptions:acceptance_decide", args=[acceptance.pk]),
                           {"decision": "approve"})  # fmt: skip
    acceptance.refresh_from_db()
    assert acceptance.status == "approved" and acceptance.decided_by == admin
    page = client.get(reverse("exceptions:register") + "?status=accepted").content.decode()
    assert ">after</code>" in page and ">2099-01-31</time>" in page
