"""The compliance manager's path through the dashboard in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_overview_filter_failing_control_and_run_a_connection(live_server, page, login):
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    conn = connection_create(name="Demo inventory", collector_key="demo_inventory", params={})
    collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    # Engineers need no MFA enrolment; the dashboard asks only for a signed-in user today.
    user_create(
        username="robin", email="robin@example.com", role=Role.ENGINEER,
        password="a-long-test-password",
    )  # fmt: skip
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    login("robin", "a-long-test-password")
    # The home page is the overview of the first framework.
    expect(page.get_by_role("heading", level=1)).to_have_text("ISO/IEC 27001:2022")
    expect(page.get_by_test_id("readiness")).to_have_text(re.compile(r"\d+(\.\d)?%"))
    expect(page.get_by_role("img", name=re.compile("readiness, 90 days"))).to_be_visible()
    page.get_by_role("link", name="SOC 2").first.click()
    expect(page.get_by_role("heading", name="Fix first")).to_be_visible()
    expect(page.locator("main")).to_contain_text("CC6.1")

    # Filter the control list by status.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Controls").click()
    page.get_by_label("Framework").select_option("soc2-2017")
    page.get_by_label("Status").select_option("failing")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#match-count")).to_contain_text("1 of 61")
    rows = page.locator("#control-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Failing")

    # Open the failing control: failing resources with remediation, evidence timeline.
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CC6.1")
    expect(page.locator("main")).to_contain_text("bucket-logs")
    expect(page.locator("main")).to_contain_text("Enable encryption at rest")
    expect(page.get_by_role("link", name="Download JSON").first).to_be_visible()

    # Run the connection and watch it complete.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    page.get_by_role("button", name="Run Demo inventory now").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Run #")
    expect(page.locator('[data-field="status"]')).to_have_text("Succeeded", timeout=20_000)
    expect(page.locator('[data-field="findings"]')).to_contain_text("4 fail")
    page.get_by_role("link", name="View evidence item").click()
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("main")).to_contain_text("All checks pass")
    assert not [e for e in errors if "Content Security Policy" in e], errors
