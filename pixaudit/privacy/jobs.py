"""Thin django-rq jobs of the privacy app (scheduled in ``pixaudit/cron.py``)."""

from __future__ import annotations

from django_rq import job


@job("default")
def privacy_daily_job() -> dict[str, object]:
    """Snapshot the data-subject request register (requests turn overdue with the date)."""
    from pixaudit.privacy.services import privacy_evidence_refresh

    item = privacy_evidence_refresh()
    return {"evidence": item.seq, "requests": item.row_count}
