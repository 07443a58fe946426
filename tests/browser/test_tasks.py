"""Work that gets done, in a real browser: a manager assigns a failing control's task, the
engineer sees it in "My work", the sandbox resource is fixed, the next collection closes the
task, and a webhook receiver on 127.0.0.1 gets the signed "turned failing" and "recovered"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Control
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.models import Connection
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.notifications.services import endpoint_create
from pixaudit.tasks.models import Task, TaskStatus
from tests.notifications.receiver import Receiver
from tests.tasks.fixtures import bucket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-test-password"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_assign_fix_and_the_next_collection_closes_the_task(live_server, page, login, receiver):
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    manager = user_create(username="morgan", email="morgan@example.com",
                          role=Role.COMPLIANCE_MANAGER, password=PASSWORD)  # fmt: skip
    user_create(username="robin", email="robin@example.com", role=Role.ENGINEER,
                password=PASSWORD)  # fmt: skip
    _endpoint, receiver.secret = endpoint_create(
        name="SIEM", kind="webhook", url=receiver.url,
        events=["control.failing", "control.recovered"], actor=manager,
    )  # fmt: skip
    conn = connection_create(name="Sandbox", collector_key="demo_inventory",
                             params={"resources": bucket(False)})  # fmt: skip
    run = collection_run_execute(run_id=collection_run_create(connection=conn,
                                                              trigger="manual").pk)  # fmt: skip
    assert run.status == "succeeded", run.error_message
    control = Control.objects.get(framework__key="soc2-2017", ref="CC6.1")
    task = Task.objects.get(source_key=f"control:{control.pk}")
    assert task.assignee is None  # CC6.1 has no owner yet: a manager picks one
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # The manager sees the failing control in "Fix first" and assigns its task.
    login("morgan", PASSWORD)
    page.goto(f"{live_server.url}/frameworks/soc2-2017/")
    fix_first = page.get_by_role("table", name=re.compile("Failing controls"))
    row = fix_first.get_by_role("row").filter(has_text="CC6.1")
    row.get_by_role("link", name=re.compile(r"\d{4}-\d{2}-\d{2}")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fix CC6.1")
    expect(page.locator("main")).to_contain_text("bucket-x")
    page.get_by_label("Assignee").select_option(label="robin (Engineer)")
    page.get_by_role("button", name="Save assignment").click()
    expect(page.get_by_test_id("assignee")).to_have_text("robin")
    page.get_by_role("button", name="Sign out").click()

    # The engineer finds it in "My work".
    login("robin", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My work").click()
    open_tasks = page.get_by_role("table", name="Open tasks")
    expect(open_tasks).to_contain_text("Fix CC6.1")

    # The sandbox resource is fixed (encrypted at the source), then a collection runs.
    Connection.objects.filter(pk=conn.pk).update(params={"resources": bucket(True)})
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    page.get_by_role("button", name="Run Sandbox now").click()
    expect(page.locator('[data-field="status"]')).to_have_text("Succeeded", timeout=30_000)

    # The collection closed the task: it is no longer open work, and says why.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My work").click()
    expect(page.get_by_role("table", name="Open tasks")).not_to_contain_text("Fix CC6.1")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("main")).to_contain_text("Done")
    expect(page.locator("main")).to_contain_text("Verified by the collection")
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE

    # The webhook endpoint received both events for CC6.1, signed and fresh.
    events = [a["event"] for a in receiver.accepted if a["data"]["control"] == control.address]
    assert events == ["control.failing", "control.recovered"], receiver.accepted
    assert not receiver.rejected
    assert not [e for e in errors if "Content Security Policy" in e], errors
