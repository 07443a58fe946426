"""Thin django-rq jobs of the vendors app (scheduled in ``pixaudit/cron.py``)."""

from __future__ import annotations

from django_rq import job


@job("default")
def vendors_daily_job() -> dict[str, object]:
    """Append the register as evidence (verdicts move with the calendar) and send the
    reminders that are due (once per change); with an empty register and no earlier
    evidence, skip."""
    from pixaudit.vendors.models import Vendor
    from pixaudit.vendors.selectors import register_latest
    from pixaudit.vendors.services import register_evidence_append, vendor_reminders_send

    if not Vendor.objects.exists() and register_latest() is None:
        return {"skipped": "empty register"}
    item = register_evidence_append(reason="daily")
    return {"evidence": item.seq, "vendors": item.row_count, "reminders": vendor_reminders_send()}
