from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pixaudit.reports.verify import EXIT_OK, add_arguments, verify_cli


class Command(BaseCommand):
    help = (
        "Verify an evidence pack offline (no database): every file's SHA-256 against "
        "manifest.json and SHA256SUMS, no extra or missing file, and the manifest's Ed25519 "
        "signature. Pin the organisation's published key (--public-key, --fingerprint or "
        "--key-url): without a pin the signature proves nothing about who made the pack, and "
        "the command exits 3 unless --trust-embedded-key accepts that. Exit codes: 0 verified, "
        "1 failed, 2 bad options or key, 3 intact but not pinned."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        code, text = verify_cli(
            pack=options["pack"],
            public_key=options.get("public_key"),
            fingerprint=options.get("fingerprint"),
            key_url=options.get("key_url"),
            trust_embedded_key=options.get("trust_embedded_key", False),
        )
        if code != EXIT_OK:
            raise CommandError(text, returncode=code)
        self.stdout.write(text)
