"""Reminder e-mails: reviewers of open campaigns, owners of expiring manual evidence.

Idempotent per day: each (kind, object, recipient, day) is recorded in ``ReminderSent`` in
the same transaction as the send, so running the command twice a day sends nothing new, and
a failed send is retried by the next run.

- Campaigns: every reviewer with undecided accounts, daily from ``CAMPAIGN_REMIND_DAYS``
  before the due date and every day once overdue.
- Manual evidence: the owner (else the uploader) of a control's current proof, 30, 14, 7, 3
  and 1 day(s) before it lapses, on the day, then weekly while expired.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from pixaudit.evidence.selectors_manual import manual_evidence_expiring
from pixaudit.lib.single_line import header_text
from pixaudit.reviews.models import Campaign, ReminderSent

__all__ = ["CAMPAIGN_REMIND_DAYS", "reminders_send"]

logger = logging.getLogger("pixaudit.reviews.reminders")
CAMPAIGN_REMIND_DAYS = 7
MANUAL_REMIND_DAYS = frozenset({30, 14, 7, 3, 1, 0})


def _url(name: str, *args) -> str:
    return settings.PIXAUDIT_BASE_URL.rstrip("/") + reverse(name, args=args)


def _send_once(kind: str, object_id: int, recipient: str, today: date, subject: str,
               body: str) -> bool:  # fmt: skip
    try:
        with transaction.atomic():
            ReminderSent.objects.create(
                kind=kind, object_id=object_id, recipient=recipient, day=today
            )
            send_mail(subject, body, None, [recipient])
    except IntegrityError:
        return False  # already sent today
    except Exception:
        logger.exception("reminder %s #%s to %s failed; will retry", kind, object_id, recipient)
        return False
    return True


def _campaign_reminders(today: date) -> int:
    sent = 0
    campaigns = Campaign.objects.filter(status=Campaign.Status.OPEN).prefetch_related("reviewers")
    for campaign in campaigns.select_related("started_by"):
        days_left = (campaign.due_on - today).days
        if days_left > CAMPAIGN_REMIND_DAYS:
            continue
        pending: dict[object, int] = defaultdict(int)
        default = list(campaign.reviewers.all()) or [campaign.started_by]
        for entry in campaign.entries.filter(decision="").select_related("reviewer"):
            for user in [entry.reviewer] if entry.reviewer else default:
                if user is not None and user.email and user.is_active:
                    pending[user] += 1
        when = "is overdue" if days_left < 0 else f"is due on {campaign.due_on}"
        for user, count in pending.items():
            body = (
                f"Hello {user.get_username()},\n\nThe access review '{campaign.name}' {when}. "
                f"{count} account(s) assigned to you still need a decision (keep, revoke or "
                f"modify).\n\nReview them: {_url('reviews:campaign_detail', campaign.pk)}\n"
            )
            subject = f"[pixaudit] Access review '{header_text(campaign.name)}' {when}"
            sent += _send_once("campaign", campaign.pk, user.email, today, subject, body)
    return sent


def _manual_reminders(today: date) -> int:
    sent = 0
    for item in manual_evidence_expiring(today=today):
        days_left = (item.valid_until - today).days
        if days_left not in MANUAL_REMIND_DAYS and not (days_left < 0 and days_left % 7 == 0):
            continue
        user = item.owner or item.uploaded_by
        if user is None or not user.email or not user.is_active:
            continue
        when = (
            f"expired on {item.valid_until}" if days_left < 0 else f"expires on {item.valid_until}"
        )
        body = (
            f"Hello {user.get_username()},\n\nThe manual evidence '{item.title}' {when}. Its "
            f"controls ({', '.join(item.control_addresses)}) turn to 'manual pending' once it "
            f"lapses. Upload the renewed document: {_url('manualevidence:upload')}\n"
        )
        subject = f"[pixaudit] Manual evidence '{header_text(item.title)}' {when}"
        sent += _send_once("manual", item.pk, user.email, today, subject, body)
    return sent


def reminders_send(*, today: date | None = None) -> dict[str, int]:
    """Send today's reminders; returns ``{"campaign": n, "manual": n}`` e-mails sent."""
    today = today or timezone.now().date()
    return {"campaign": _campaign_reminders(today), "manual": _manual_reminders(today)}
