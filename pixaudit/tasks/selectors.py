"""Reads for tasks: my work, lists, overdue, the remediation task of each control."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from pixaudit.tasks.models import UNFINISHED, Task, TaskStatus


def _base() -> QuerySet[Task]:
    return Task.objects.select_related("assignee", "control", "control__framework")


def my_work(*, user, today: date | None = None) -> dict[str, list[Task]]:
    """The user's unfinished tasks (overdue first), and those waiting for verification."""
    today = today or timezone.now().date()
    mine = list(_base().filter(assignee=user, status__in=UNFINISHED).order_by("due_on", "id"))
    return {
        "overdue": [t for t in mine if t.overdue(today)],
        "open": [t for t in mine if t.status == TaskStatus.OPEN and not t.overdue(today)],
        "verifying": [t for t in mine if t.status == TaskStatus.VERIFYING],
    }


def task_list(
    *, status: str = "", kind: str = "", assignee: str = "", overdue: bool = False
) -> QuerySet[Task]:
    """Every task, filtered (status ``unfinished`` = open or verifying)."""
    qs = _base()
    if status == "unfinished":
        qs = qs.filter(status__in=UNFINISHED)
    elif status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee__username=assignee)
    if overdue:
        qs = qs.filter(status=TaskStatus.OPEN, due_on__lt=timezone.now().date())
    return qs.order_by("status", "due_on", "-id")


def overdue_tasks(*, today: date | None = None) -> QuerySet[Task]:
    today = today or timezone.now().date()
    return _base().filter(status=TaskStatus.OPEN, due_on__lt=today).order_by("due_on", "id")


def remediation_by_control(*, control_ids) -> dict[int, Task]:
    """control id -> its unfinished remediation task (one query)."""
    rows = _base().filter(
        control_id__in=list(control_ids), status__in=UNFINISHED, source_key__startswith="control:"
    )
    return {t.control_id: t for t in rows}


def task_for_request(*, evidence_request) -> Task | None:
    return (
        Task.objects.filter(evidence_request=evidence_request)
        .select_related("assignee")
        .order_by("-id")
        .first()
    )
