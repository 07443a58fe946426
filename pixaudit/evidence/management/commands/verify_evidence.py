"""``manage.py verify_evidence``: recompute every artifact hash and the chain, check the chain
against its signed checkpoints, then rebuild the current state from history and compare it
with the current-state table."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pixaudit.evidence.checkpoints import checkpoints_check, public_key_from_pem
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.integrity_current import verify_current_state


class Command(BaseCommand):
    help = (
        "Recompute each evidence artifact's SHA-256, each item's findings digest and the hash "
        "chain in seq order; name the first broken link. Then check the chain against every "
        "signed checkpoint of its head (a removed or rewritten tail). Then rebuild the current "
        "state (latest result per assertion, resource and connection) from the findings "
        "history and the runs, and name every current-state row that differs. Exit non-zero "
        "if any check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-artifacts",
            action="store_true",
            help="Check the chain and findings only, without reading artifact files.",
        )
        parser.add_argument(
            "--checkpoints",
            metavar="DIR",
            type=Path,
            help="Check against checkpoints exported with `chain_checkpoint --export DIR` "
            "(e.g. a copy kept outside the system) instead of those in the artifact store.",
        )
        parser.add_argument(
            "--public-key",
            metavar="PEM",
            action="append",
            type=Path,
            default=[],
            help="Trust only this Ed25519 public key for checkpoint signatures (repeat for "
            "keys used before a rotation); default: the configured signing key.",
        )
        parser.add_argument(
            "--require-checkpoint",
            action="store_true",
            help="Fail when no signed checkpoint exists yet.",
        )

    def handle(self, *args, **options):
        keys = []
        for path in options["public_key"]:
            try:
                keys.append(public_key_from_pem(path.read_bytes()))
            except (OSError, ValueError) as exc:
                raise CommandError(f"--public-key {path}: {exc}") from None
        directory = options["checkpoints"]
        if directory is not None and not directory.is_dir():
            raise CommandError(f"--checkpoints {directory}: not a directory")
        result = verify_chain(check_artifacts=not options["skip_artifacts"])
        if not result.ok:
            raise CommandError(result.summary())
        report = checkpoints_check(last_seq=result.count, directory=directory, public_keys=keys)
        if not report.ok:
            raise CommandError(
                f"FAILED: the chain is intact link by link up to seq={result.count}, but "
                f"{report.problem}"
            )
        if options["require_checkpoint"] and report.latest is None:
            raise CommandError(f"{result.summary()}; but {report.summary()}")
        self.stdout.write(result.summary())
        self.stdout.write(report.summary())
        current = verify_current_state()
        if not current.ok:
            raise CommandError(current.summary())
        self.stdout.write(current.summary())
