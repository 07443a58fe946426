"""Thin django-rq jobs of the reviews app (scheduled in ``pixaudit/cron.py``)."""

from __future__ import annotations

from django_rq import job


@job("default")
def reviews_daily_job() -> dict[str, int]:
    """Start due recurring campaigns, catch up follow-ups, send today's reminders."""
    from pixaudit.reviews.services import campaigns_start_due, reminders_send
    from pixaudit.reviews.services.followups import followups_check_all

    started = len(campaigns_start_due())
    checked = followups_check_all()
    return {"started": started, "followups_checked": checked, **reminders_send()}


def campaign_snapshot_run(campaign_id: int) -> str:
    """Take, seal and diff the population snapshot of a campaign started from a page."""
    from pixaudit.reviews.services import campaign_snapshot_take

    campaign = campaign_snapshot_take(campaign_id=campaign_id)
    return campaign.status if campaign else "missing"
