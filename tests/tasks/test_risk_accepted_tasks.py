"""A control that goes from failing to "excluded (risk accepted)" resolves its remediation
task (naming the acceptance, its approver and expiry); when the acceptance expires while
the control still fails, the daily job reopens that same task."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from pixaudit.exceptions.models import ExceptionRecord
from pixaudit.exceptions.services import acceptance_decide, acceptance_request
from pixaudit.posture.selectors import ControlStatus
from pixaudit.tasks.automation import control_changes_apply
from pixaudit.tasks.jobs import tasks_daily_job
from pixaudit.tasks.models import ControlWatch, Task, TaskStatus
from tests.tasks.fixtures import collect

pytestmark = pytest.mark.django_db


def _last_comment(task: Task) -> str:
    return task.comments.order_by("-id").first().body


def test_acceptance_resolves_the_task_and_its_expiry_reopens_it(
    demo, owner, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)
    task = Task.objects.get(source_key=f"control:{owner.pk}")
    assert task.status == TaskStatus.OPEN
    expires = timezone.now().date() + timedelta(days=10)
    failing = ExceptionRecord.objects.filter(resource="bucket-x", closed_at__isnull=True)
    assert failing.exists()
    approved = []
    for exception in failing:
        asked = acceptance_request(exception=exception, reason="Replaced next quarter.",
                                   expires_on=expires, actor=users.engineer)  # fmt: skip
        approved.append(acceptance_decide(acceptance=asked, approve=True, note="",
                                          actor=users.manager))  # fmt: skip

    assert control_changes_apply()["accepted"] == 2  # SOC 2 CC6.1 and ISO A.8.24
    assert ControlWatch.objects.get(control=owner).status == ControlStatus.RISK_ACCEPTED
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    note = _last_comment(task)
    assert note.startswith("Risk accepted:")
    for row in approved:
        assert f"acceptance #{row.pk}" in note
    assert f"approved by {users.manager.get_username()}" in note
    assert f"expires {expires.isoformat()}" in note

    # Still failing but accepted: a new collection neither reopens nor adds a task.
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert Task.objects.filter(source_key=f"control:{owner.pk}").count() == 1

    # The day after the expiry, with no collection, the daily job reopens the same task.
    with time_machine.travel(timezone.now() + timedelta(days=11), tick=False):
        counts = tasks_daily_job()
    assert counts["controls_failing"] == 2
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert f"acceptance #{approved[0].pk} expired on {expires.isoformat()}" in _last_comment(task)
    assert "still fails" in _last_comment(task)
    assert Task.objects.filter(source_key=f"control:{owner.pk}").count() == 1
    assert ControlWatch.objects.get(control=owner).status == ControlStatus.FAILING
