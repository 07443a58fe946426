from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pixaudit.reports.verify import verify_pack


class Command(BaseCommand):
    help = (
        "Verify an evidence pack offline (no database): every file's SHA-256 against "
        "manifest.json and SHA256SUMS, no extra or missing file, and the manifest's Ed25519 "
        "signature under the pack's key and, with --public-key, under the published key."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("pack")
        parser.add_argument("--public-key", help="PEM file of the published key to pin.")

    def handle(self, *args, **options):
        pinned = None
        if options.get("public_key"):
            try:
                pinned = Path(options["public_key"]).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {options['public_key']}: {exc}") from None
        result = verify_pack(options["pack"], public_key_pem=pinned)
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())
