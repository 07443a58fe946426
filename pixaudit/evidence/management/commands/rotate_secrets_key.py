"""``manage.py rotate_secrets_key``: re-encrypt stored secrets under the current key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pixaudit.evidence import crypto
from pixaudit.evidence.services import secrets_rotate
from pixaudit.notifications.services import endpoint_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored collector secret and webhook signing secret with the first "
        "key of PIXAUDIT_FIELD_KEYS. "
        "Prepend the new key, run this, then remove the old key. Safe to run again."
    )

    def handle(self, *args, **options):
        try:
            report = secrets_rotate()
            endpoints, endpoints_current = endpoint_secrets_reencrypt()
        except crypto.DecryptionError as exc:
            raise CommandError(f"rotation stopped: {exc}") from None
        self.stdout.write(
            f"re-encrypted {report.reencrypted} secret(s) in {report.rows_changed} row(s) "
            f"with key {crypto.current_key_id()}; {report.already_current} already current"
        )
        self.stdout.write(
            f"webhook signing secrets: {endpoints} re-encrypted, {endpoints_current} already "
            "current"
        )
