"""End-to-end journeys in a real browser: an external auditor, and an access review.

The data is set up through the real services (catalogs, a collected connection, an
engagement with an invited auditor, a rendered report, a review campaign); everything after
that is done through the UI, selecting elements by role and label as a person would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits.services import demo_engagement_ensure
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.reports.models import ReportStatus
from pixaudit.reports.services import report_render_now, report_scope_resolve
from pixaudit.reviews.models import Campaign, Decision
from pixaudit.reviews.services import demo_campaign_ensure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password"


def _collected_demo_inventory():
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    conn = connection_create(name="Demo inventory", collector_key="demo_inventory", params={})
    collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    return conn


def test_auditor_reviews_engagement_and_downloads_the_report(live_server, page, login):
    _collected_demo_inventory()
    auditor = user_create(
        username="ada.auditor", email="ada@audit-firm.example", role=Role.AUDITOR,
        password=PASSWORD,
    )  # fmt: skip
    engagement = demo_engagement_ensure(auditor=auditor)
    report = report_render_now(
        scope=report_scope_resolve(framework_key="soc2-2017", engagement_id=engagement.pk)
    )
    assert report.status == ReportStatus.SUCCEEDED, report.error_message

    # Auditors need no MFA; they land on the engagements they were invited to.
    login("ada.auditor", PASSWORD)
    assert page.url.rstrip("/").endswith("/engagements"), page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit engagements")
    engagements = page.get_by_role("table", name="Engagements")
    expect(engagements.get_by_role("row")).to_have_count(2)  # header + the one engagement
    engagements.get_by_role("link", name=engagement.name).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(engagement.name)
    expect(page.get_by_role("main")).to_contain_text("Your access ends")
    # The collected evidence falls inside the window.
    evidence = page.get_by_role("table", name="Evidence collected inside the window")
    expect(evidence).to_contain_text("Demo resource inventory (offline)")  # its title
    tabs = page.get_by_role("navigation", name="Engagement")
    tabs.get_by_role("link", name="Evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Evidence in the window")
    expect(evidence).to_contain_text("Demo resource inventory (offline)")  # its title
    tabs.get_by_role("link", name="Overview").click()

    # Download the stamped PDF report.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"^PDF report · SOC 2")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    logged = AuditEvent.objects.filter(
        action="engagement.download", actor_id=auditor.pk, object_id=str(engagement.pk)
    )
    assert logged.count() == 1
    details = logged.get().details
    assert details["what"] == "report_pdf"
    assert details["report_id"] == report.pk
    assert details["size"] == len(pdf)

    # The posture dashboard is not for auditors: "/" sends them to their engagements.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/engagements/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit engagements")
    # The internal control catalog is forbidden.
    response = page.goto(f"{live_server.url}/catalog/")
    assert response is not None and response.status == 403


def test_manager_decides_and_completes_an_access_review(live_server, page, login):
    _collected_demo_inventory()
    manager = user_create(
        username="maria", email="maria@example.com", role=Role.COMPLIANCE_MANAGER,
        password=PASSWORD,
    )  # fmt: skip
    campaign = demo_campaign_ensure()
    assert campaign is not None
    accounts = list(campaign.entries.order_by("account_id").values_list("account_id", flat=True))
    assert accounts == ["acct-alice", "acct-bob"]

    # Compliance managers enrol in MFA on first sign-in: the login helper does it.
    login("maria", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Access reviews").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access reviews")
    page.get_by_role("link", name=campaign.name).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(campaign.name)
    complete = page.get_by_role("button", name="Complete and add evidence")
    expect(complete).to_be_disabled()

    # Revoking without a note is refused, and nothing is saved.
    page.get_by_label("Decision for acct-bob").select_option(label="Revoke")
    page.get_by_role("button", name="Save decisions").click()
    expect(page.get_by_role("status").filter(has_text="a note is required")).to_be_visible()
    assert not campaign.entries.exclude(decision="").exists()

    # With a note it is saved; the other account is kept.
    page.get_by_label("Decision for acct-bob").select_option(label="Revoke")
    page.get_by_label("Note for acct-bob").fill("Left the company; MFA was never enabled.")
    page.get_by_label("Decision for acct-alice").select_option(label="Keep")
    page.get_by_role("button", name="Save decisions").click()
    expect(page.get_by_role("status").filter(has_text="2 decision(s) saved")).to_be_visible()
    expect(page.get_by_label("Decision for acct-bob")).to_have_value("revoke")
    expect(page.get_by_label("Note for acct-bob")).to_have_value(
        "Left the company; MFA was never enabled."
    )

    expect(complete).to_be_enabled()
    complete.click()
    expect(page.get_by_role("status").filter(has_text="Campaign completed")).to_be_visible()
    expect(page.locator(".status-big")).to_contain_text("completed")
    expect(page.get_by_role("main")).to_contain_text("Completion evidence")
    expect(page.get_by_role("button", name="Save decisions")).to_have_count(0)

    # Back on the list, it is under Completed.
    page.get_by_role("link", name="Access reviews").first.click()
    completed = page.get_by_role("heading", name="Completed", exact=True).locator("..")
    expect(completed.get_by_role("link", name=campaign.name)).to_be_visible()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.completed_by_id == manager.pk
    item = campaign.completion_evidence
    assert item is not None and item.collector_key.startswith("access_review")
    decisions = dict(campaign.entries.values_list("account_id", "decision"))
    assert decisions == {"acct-alice": Decision.KEEP, "acct-bob": Decision.REVOKE}
    result = verify_chain()
    assert result.ok, result
