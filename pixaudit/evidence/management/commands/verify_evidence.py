"""``manage.py verify_evidence``: recompute every artifact hash and the chain, then rebuild the
current state from history and compare it with the current-state table."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.integrity_current import verify_current_state


class Command(BaseCommand):
    help = (
        "Recompute each evidence artifact's SHA-256, each item's findings digest and the hash "
        "chain in seq order; name the first broken link. Then rebuild the current state "
        "(latest result per assertion, resource and connection) from the findings history "
        "and the runs, and name every current-state row that differs. Exit non-zero if any."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-artifacts",
            action="store_true",
            help="Check the chain and findings only, without reading artifact files.",
        )

    def handle(self, *args, **options):
        result = verify_chain(check_artifacts=not options["skip_artifacts"])
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())
        current = verify_current_state()
        if not current.ok:
            raise CommandError(current.summary())
        self.stdout.write(current.summary())
