"""A failing control makes one remediation task and one event per change; the next
collection verifies a closed task (reopens it while failing, resolves it once passing)."""

from __future__ import annotations

import pytest
from django.core import mail

from pixaudit.notifications.models import Notification
from pixaudit.tasks import services
from pixaudit.tasks.models import Task, TaskKind, TaskStatus
from tests.tasks.fixtures import collect

pytestmark = pytest.mark.django_db


def _task(control) -> Task:
    return Task.objects.get(source_key=f"control:{control.pk}")


def test_turning_failing_makes_one_task_for_the_owner_and_no_storm(
    demo, owner, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)
    task = _task(owner)
    assert task.kind == TaskKind.REMEDIATION and task.status == TaskStatus.OPEN
    assert task.assignee == users.engineer and task.due_on is not None
    assert "bucket-x" in task.description and "How to fix" in task.description
    failing = Notification.objects.filter(event="control.failing", payload__control=owner.address)
    assert failing.count() == 1
    assert set(failing.get().recipients.all()) >= {users.engineer, users.manager}
    assigned = [m for m in mail.outbox if "Assigned to you" in m.subject]
    assert [m.to for m in assigned] == [[users.engineer.email]]

    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)  # the same failing state again
        collect(demo)
    assert Task.objects.filter(source_key=f"control:{owner.pk}").count() == 1
    assert failing.count() == 1
    assert len([m for m in mail.outbox if "Assigned to you" in m.subject]) == 1


def test_closing_while_still_failing_reopens_and_fixing_resolves(
    demo, owner, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)
    task = services.task_close(task=_task(owner), actor=users.engineer, note="Encrypted it")
    assert task.status == TaskStatus.VERIFYING  # the click alone does not finish it

    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)  # still failing
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert "still finds" in task.comments.order_by("-id").first().body

    services.task_close(task=task, actor=users.engineer)
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo, encrypted=True)
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert "Verified by the collection" in task.comments.order_by("-id").first().body
    recovered = Notification.objects.filter(event="control.recovered",
                                            payload__control=owner.address)  # fmt: skip
    assert recovered.count() == 1

    # Failing again later: a new task (the old one stays done), one new event.
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo, encrypted=False)
    assert Task.objects.filter(source_key=f"control:{owner.pk}").count() == 2
    assert Notification.objects.filter(event="control.failing",
                                       payload__control=owner.address).count() == 2  # fmt: skip


def test_an_open_task_is_closed_by_the_collection_that_sees_the_fix(
    demo, owner, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)
        collect(demo, encrypted=True)
    assert _task(owner).status == TaskStatus.DONE


def test_only_assignee_author_or_manager_close(demo, owner, users):
    collect(demo)
    task = _task(owner)
    with pytest.raises(Exception, match="Only the assignee"):
        services.task_close(task=task, actor=users.other_engineer)
    services.task_close(task=task, actor=users.manager)


def test_collection_errors_one_event_per_failure(db, catalogs, users, media_root):
    from pixaudit.evidence.services import (
        collection_run_create,
        collection_run_execute,
        connection_create,
    )
    from pixaudit.tasks.automation import collection_errors_watch

    conn = connection_create(name="Broken", collector_key="demo_inventory",
                             params={"simulate_error": "permanent"})  # fmt: skip
    run = collection_run_execute(run_id=collection_run_create(connection=conn,
                                                              trigger="manual").pk)  # fmt: skip
    assert run.status == "failed"
    assert collection_errors_watch() == 1
    assert collection_errors_watch() == 0  # still the same failure: no storm
    note = Notification.objects.get(event="collection.error")
    assert "simulated permanent failure" in note.body


def test_overview_shows_overdue_work_owners_and_due_dates(demo, owner, users):
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from tests.security.helpers import client_for

    collect(demo)
    task = _task(owner)
    url = reverse("dashboard:overview", args=["soc2-2017"])
    page = client_for(users.manager).get(url).content.decode()
    assert "Overdue work" not in page
    fix_first = page[page.index("Fix first") :]
    row = fix_first[fix_first.index("CC6.1") : fix_first.index("</tr>", fix_first.index("CC6.1"))]
    assert users.engineer.username in row and task.due_on.isoformat() in row
    Task.objects.filter(pk=task.pk).update(due_on=timezone.now().date() - timedelta(days=2))
    page = client_for(users.engineer).get(url).content.decode()
    assert "Overdue work: 1 task" in page and 'class="card alert-card"' in page
    assert "overdue" in page[page.index("Fix first") :]
    detail = reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"])
    page = client_for(users.engineer).get(detail).content.decode()
    assert f"/tasks/{task.pk}/" in page and "Remediation" in page
