"""The events pixaudit notifies about, and who wants what by default."""

from __future__ import annotations

EVENTS: dict[str, str] = {
    "control.failing": "A control turned failing",
    "control.recovered": "A control recovered",
    "evidence.expiring": "Evidence about to expire",
    "evidence.stale": "Evidence stale or expired",
    "collection.error": "A collection failed",
    "task.assigned": "A task was assigned to you",
    "task.mentioned": "You were mentioned in a task",
    "task.overdue": "A task is overdue",
    "request.opened": "An auditor opened an evidence request",
    "request.answered": "An evidence request was answered",
    "review.due": "An access review is due",
    "vendor.dpa_expiring": "A vendor's DPA is about to expire",
    "vendor.report_expiring": "A vendor's independent report is about to expire",
    "vendor.review_due": "A vendor review is due",
}

#: Events e-mailed at once when a user has not chosen (the rest reach them in the digest).
DEFAULT_EMAIL_EVENTS = (
    "task.assigned",
    "task.mentioned",
    "task.overdue",
    "request.opened",
    "request.answered",
    "review.due",
    "vendor.dpa_expiring",
    "vendor.report_expiring",
    "vendor.review_due",
)
