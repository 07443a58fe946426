"""``manage.py notifications_digest``: send today's digest e-mails (idempotent per day)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.notifications.digest import digest_send


class Command(BaseCommand):
    help = (
        "E-mail each user who wants it one digest of the notifications that concerned them "
        "since their last digest. Running it twice a day sends nothing the second time."
    )

    def handle(self, *args, **options):
        result = digest_send()
        self.stdout.write(
            f"Digests sent: {result['sent']}; users with nothing new: {result['empty']}"
        )
