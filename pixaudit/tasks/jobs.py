"""django-rq jobs of tasks: thin wrappers around one service call each."""

from __future__ import annotations

from pixaudit.notifications.services import deliveries_dispatch_due
from pixaudit.tasks.automation import (
    collection_errors_watch,
    control_changes_apply,
    tasks_daily_sync,
)


def work_tick_job() -> dict[str, int]:
    """Every 30 s: report collection errors; hand due notification retries to the workers."""
    return {"errors": collection_errors_watch(), "dispatched": deliveries_dispatch_due()}


def tasks_daily_job() -> dict[str, int]:
    """Daily: control changes no collection made (a risk acceptance that expired reopens its
    remediation task); review, manual-evidence and commitment tasks; overdue and due events."""
    changes = control_changes_apply()
    return {**tasks_daily_sync(), **{f"controls_{k}": v for k, v in changes.items()}}
