"""Thin django-rq job of the change-ticket join (``pixaudit/cron.py`` and the ingest hook)."""

from __future__ import annotations

from django_rq import job


@job("default")
def change_tickets_job(reason: str = "daily") -> dict[str, object]:
    """Join the latest pull-request and ticket evidence into a ``change_tickets`` item."""
    from pixaudit.changes.services import change_tickets_refresh

    item = change_tickets_refresh(reason=reason)
    if item is None:
        return {"skipped": "no github_pull_requests evidence"}
    return {"evidence": item.seq, "changes": item.row_count}
