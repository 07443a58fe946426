"""In a real browser: the auditor opens a control of the engagement, sees its evidence,
and records a sample result with an attached file."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.audits.models import SampleResult
from pixaudit.audits.sampling import sample_draw
from pixaudit.audits.services import demo_engagement_ensure
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Control
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password"


def test_auditor_tests_a_control_in_the_engagement(live_server, page, login, tmp_path):
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    conn = connection_create(name="Demo inventory", collector_key="demo_inventory", params={})
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    item = run.evidence.get()
    auditor = user_create(
        username="ada.auditor", email="ada@audit-firm.example", role=Role.AUDITOR,
        password=PASSWORD,
    )  # fmt: skip
    engagement = demo_engagement_ensure(auditor=auditor)
    control = Control.objects.get(framework__key="soc2-2017", ref="CC6.1")
    sample = sample_draw(engagement=engagement, actor=auditor, kind="days", size=3, seed=7,
                         control=control)  # fmt: skip

    login("ada.auditor", PASSWORD)
    page.goto(f"{live_server.url}/engagements/{engagement.pk}/")
    page.get_by_role("navigation", name="Engagement").get_by_role("link", name="Controls").click()
    expect(page.get_by_role("heading", name="Controls", exact=True)).to_be_visible()
    expect(page.get_by_text("Not tested: no evidence in the period").first).to_be_visible()
    page.get_by_role("link", name="CC6.1 Logical access security software").click()

    # The control's evidence, by name: the collection and its source, the failing results.
    expect(page.get_by_role("heading", name="Automated evidence")).to_be_visible()
    expect(page.get_by_role("link", name=f"Evidence {item.seq}", exact=True).first).to_be_visible()
    expect(page.get_by_text("Demo resource inventory (offline)").first).to_be_visible()
    expect(page.get_by_text("Not tested: no evidence in the period")).to_have_count(0)
    expect(page.get_by_role("heading", name="Samples for this control")).to_be_visible()
    # Its coverage over the window as a heatmap (one cell per day) and its exceptions.
    window = (engagement.window_end - engagement.window_start).days + 1
    expect(page.locator("svg.heatmap rect[data-day]")).to_have_count(window)
    expect(page.get_by_test_id("control-coverage")).to_contain_text("covered by passing")
    exceptions = page.get_by_role("table", name="Exceptions of this control's checks")
    expect(exceptions.get_by_role("row")).not_to_have_count(1)  # more than the header
    expect(exceptions).to_contain_text("Evidence")

    # Record a result: an exception with a note and an attached file.
    page.get_by_role("link", name="Record results").click()
    expect(page.get_by_role("heading", name="Record a test result")).to_be_visible()
    page.get_by_label("Item").select_option("2")
    page.get_by_label("Exception").check()
    page.get_by_label("Note").fill("No approval recorded for this day's change.")
    evidence = tmp_path / "change-log.csv"
    evidence.write_text("day,change,approved\n2026-11-02,deploy 41,no\n")
    page.get_by_label("Attach evidence").set_input_files(str(evidence))
    page.get_by_role("button", name="Record result").click()
    expect(page.get_by_text("Item 2 recorded as exception.")).to_be_visible()
    items = page.get_by_role("table", name="Drawn items, in draw order, with their latest result")
    row = items.get_by_role("row").nth(2)
    expect(row).to_contain_text("Exception")
    expect(row).to_contain_text("No approval recorded for this day's change.")
    expect(row.get_by_role("link", name="change-log.csv")).to_be_visible()

    result = SampleResult.objects.get(sample=sample, position=2)
    assert result.outcome == "exception" and result.content_type == "text/csv"
    assert result.recorded_by == auditor

    # Back on the control, the sample shows the result.
    page.get_by_role("link", name="CC6.1 Logical access security software").first.click()
    expect(page.get_by_text("1 exception")).to_be_visible()
