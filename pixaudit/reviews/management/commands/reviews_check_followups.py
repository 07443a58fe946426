"""``manage.py reviews_check_followups``: re-check open revocation follow-ups."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.reviews.services.followups import followups_check_all


class Command(BaseCommand):
    help = "Check open revoke/modify follow-ups against each source's latest collection."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"sources checked: {followups_check_all()}")
