"""``manage.py reviews_send_reminders``: today's reminder e-mails (idempotent per day)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.reviews.services import campaigns_start_due, reminders_send


class Command(BaseCommand):
    help = (
        "Start due recurring access reviews and send today's reminders (campaign reviewers, "
        "owners of expiring manual evidence). Safe to run several times a day."
    )

    def handle(self, *args, **options) -> None:
        started = campaigns_start_due()
        sent = reminders_send()
        self.stdout.write(
            f"campaigns started: {len(started)}; reminders sent: {sent['campaign']} campaign, "
            f"{sent['manual']} manual evidence"
        )
