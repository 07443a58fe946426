"""Thin django-rq jobs of the exceptions register (scheduled in ``pixaudit/cron.py``)."""

from __future__ import annotations

from django_rq import job


@job("default")
def exceptions_daily_job() -> dict[str, int]:
    """Catch up with evidence appended outside collections (manual uploads, access reviews:
    the post-ingest hook runs after collections only) and record expired acceptances."""
    from pixaudit.exceptions.services import acceptances_expire, exceptions_sync

    synced = exceptions_sync()
    return {"items": synced.items, "expired_acceptances": acceptances_expire()}
