"""The leaver test in a real browser: upload the HR export, run the test, read the grid,
fix an orphan in the mapping table (issue 18)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.models import Connection
from pixaudit.evidence.services.append import evidence_append

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password"


def _github(now) -> None:  # type: ignore[no-untyped-def]
    gh = Connection.objects.create(name="GitHub acme", collector_key="github_org", params={})
    rows = [
        {"account_id": str(i), "display_name": login, "email": email, "status": "active",
         "source": "github:acme", "resource": f"org:acme/user:{login}"}
        for i, (login, email) in enumerate([("alice-gh", "alice@acme.example"),
                                            ("dan-gh", "dan@acme.example"),
                                            ("mallory", None)])
    ]  # fmt: skip
    evidence_append(collector_key="github_org", document={"rows": rows}, connection_id=gh.pk,
                    collected_at=now - timedelta(hours=1), expires_at=now + timedelta(days=1),
                    rows_count=len(rows))  # fmt: skip


def test_manager_runs_the_leaver_test_and_fixes_an_orphan(live_server, page, login, tmp_path):
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    now = timezone.now()
    Connection.objects.create(name="HR export", collector_key="hris_people",
                              params={"provider": "file"})  # fmt: skip
    _github(now)
    user_create(username="maria", email="maria@example.com", role=Role.COMPLIANCE_MANAGER,
                password=PASSWORD)  # fmt: skip
    header = "employee_id,name,work_email,status,start_date,termination_date\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "E1,Alice,alice@acme.example,active,2021-03-01,\nE2,Dan,,gone,,\n")
    good = tmp_path / "people.csv"
    # Counted from the day the accounts were seen (an hour ago: _github), midnight-proof.
    left = ((now - timedelta(hours=1)).date() - timedelta(days=3)).isoformat()
    good.write_text(header + "E1,Alice,alice@acme.example,active,2021-03-01,\n"
                    f"E2,Dan Leaver,dan@acme.example,terminated,2019-05-06,{left}\n")  # fmt: skip

    login("maria", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People and accounts")
    page.get_by_role("link", name="Upload an HR export").click()

    # A bad file is refused with its problems by line number.
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Line 3: status 'gone' is not one of")
    expect(alert).to_contain_text("Line 3: start_date is empty")
    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People and accounts")

    page.get_by_role("button", name="Run now").click()
    leavers = page.get_by_role("table", name="Accounts of people who left")
    expect(leavers).to_contain_text("org:acme/user:dan-gh")
    expect(leavers).to_contain_text("3 days after the termination date")
    grid = page.get_by_role("table", name="Each person's accounts in each system")
    expect(grid.get_by_role("row", name="Dan Leaver")).to_contain_text("dan-gh")
    expect(grid.get_by_role("link", name="HR evidence").first).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("mallory")

    # mallory is a bot Alice owns: declare it, run again.
    page.get_by_role("link", name="Mapping table", exact=True).click()
    page.get_by_label("Account").fill("org:acme/user:mallory")
    page.get_by_label("Kind").select_option(label="Service account")
    page.get_by_label("Employee id").first.fill("E1")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_role("table", name="Declared accounts")).to_contain_text("mallory")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    page.get_by_role("button", name="Run now").click()
    service = page.get_by_role("heading", name="Service accounts").locator("..")
    expect(service).to_contain_text("service account owned by Alice (E1)")
