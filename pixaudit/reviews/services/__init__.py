"""Writes of the reviews app, split by concern (campaigns, follow-ups, reminders, demo)."""

from __future__ import annotations

from pixaudit.reviews.services.campaigns import (
    ReviewError,
    campaign_cancel,
    campaign_complete,
    campaign_request,
    campaign_snapshot_take,
    campaign_start,
    campaigns_start_due,
    entries_decide,
    entry_assign,
)
from pixaudit.reviews.services.demo import demo_campaign_ensure
from pixaudit.reviews.services.followups import followups_after_ingest, followups_check
from pixaudit.reviews.services.reminders import reminders_send

__all__ = [
    "ReviewError",
    "campaign_cancel",
    "campaign_complete",
    "campaign_request",
    "campaign_snapshot_take",
    "campaign_start",
    "campaigns_start_due",
    "demo_campaign_ensure",
    "entries_decide",
    "entry_assign",
    "followups_after_ingest",
    "followups_check",
    "reminders_send",
]
