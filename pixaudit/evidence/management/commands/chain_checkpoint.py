"""``manage.py chain_checkpoint``: sign the chain head now, list or export the checkpoints."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pixaudit.evidence.checkpoints import checkpoints_from_store
from pixaudit.evidence.services.checkpoints import CheckpointRefused, chain_checkpoint_write
from pixaudit.evidence.storage import ArtifactStoreError
from pixaudit.reports.signing import public_key_fingerprint, public_key_pem

_README = """Signed checkpoints of the pixaudit evidence chain head
=======================================================

Each <name>.json is a checkpoint exactly as signed (canonical JSON: seq, chain_hash,
created_at, organisation, key_fingerprint); <name>.sig is its raw Ed25519 signature;
public_key.pem is the signing key's public half (fingerprint {fingerprint}). Compare
that fingerprint with the one the organisation publishes before trusting it.

Check one signature without pixaudit:

    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\
        -in <name>.json -sigfile <name>.sig

Check the evidence chain against all of them (on a pixaudit installation):

    python manage.py verify_evidence --checkpoints <this directory> \\
        --public-key <this directory>/public_key.pem
"""


class Command(BaseCommand):
    help = (
        "Sign a checkpoint of the evidence chain head and store it (default), or list or "
        "export the stored checkpoints."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--list", action="store_true", help="List the checkpoints in the artifact store."
        )
        group.add_argument(
            "--export",
            metavar="DIR",
            type=Path,
            help="Write every checkpoint as <name>.json + <name>.sig, public_key.pem and a "
            "README (for auditors, or a copy kept outside the system).",
        )

    def handle(self, *args, **options):
        if options["list"]:
            return self._list()
        if options["export"] is not None:
            return self._export(options["export"])
        try:
            checkpoint = chain_checkpoint_write(force=True)
        except (CheckpointRefused, ArtifactStoreError) as exc:
            raise CommandError(str(exc)) from None
        if checkpoint is None:
            self.stdout.write("Nothing to sign: the chain is empty or its head is checkpointed.")
            return
        locked = (
            f", locked until {checkpoint.locked_until:%Y-%m-%d}" if checkpoint.locked_until else ""
        )
        self.stdout.write(
            f"Signed checkpoint seq={checkpoint.seq} {checkpoint.chain_hash} -> "
            f"{checkpoint.name}{locked}"
        )

    def _list(self) -> None:
        count = 0
        for checkpoint in checkpoints_from_store():
            count += 1
            if checkpoint.problem:
                self.stdout.write(f"{checkpoint.name}: {checkpoint.problem}")
                continue
            self.stdout.write(
                f"seq={checkpoint.seq:<8} {checkpoint.created_at}  {checkpoint.chain_hash}  "
                f"{checkpoint.name}"
            )
        if not count:
            self.stdout.write("No checkpoints in the artifact store.")

    def _export(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        count = 0
        for checkpoint in checkpoints_from_store():
            if checkpoint.problem:
                raise CommandError(f"{checkpoint.name}: {checkpoint.problem}")
            stem = Path(checkpoint.name).stem
            (directory / f"{stem}.json").write_bytes(checkpoint.signed_bytes)
            (directory / f"{stem}.sig").write_bytes(checkpoint.signature)
            count += 1
        (directory / "public_key.pem").write_bytes(public_key_pem())
        (directory / "README.txt").write_text(
            _README.format(fingerprint=public_key_fingerprint()), encoding="utf-8"
        )
        self.stdout.write(f"Exported {count} checkpoint(s) to {directory}")
