"""``manage.py rotate_secrets_key``: re-encrypt stored secrets under the current key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pixaudit.evidence import crypto
from pixaudit.evidence.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored collector secret with the first key of PIXAUDIT_FIELD_KEYS. "
        "Prepend the new key, run this, then remove the old key. Safe to run again."
    )

    def handle(self, *args, **options):
        try:
            report = secrets_rotate()
        except crypto.DecryptionError as exc:
            raise CommandError(f"rotation stopped: {exc}") from None
        self.stdout.write(
            f"re-encrypted {report.reencrypted} secret(s) in {report.rows_changed} row(s) "
            f"with key {crypto.current_key_id()}; {report.already_current} already current"
        )
