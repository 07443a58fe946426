from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print the public key that signs evidence packs (PEM), or its fingerprint."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--public", action="store_true", help="Print the PEM (default).")
        parser.add_argument(
            "--fingerprint", action="store_true", help="Print the SHA-256 of the PEM instead."
        )

    def handle(self, *args, **options):
        from pixaudit.reports import signing

        if options["fingerprint"]:
            self.stdout.write(signing.public_key_fingerprint())
        else:
            self.stdout.write(signing.public_key_pem().decode("ascii"), ending="")
