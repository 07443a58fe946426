"""``manage.py load_commitments [path]``: load the policy's commitments from YAML."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pixaudit.commitments.services import BUILTIN_PATH, CommitmentsFileError, commitments_load


class Command(BaseCommand):
    help = "Load (upsert) commitments from a YAML file; default: the built-in policy file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", nargs="?", default=str(BUILTIN_PATH))

    def handle(self, *args, path: str, **options) -> None:
        try:
            result = commitments_load(path=path)
        except CommitmentsFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"commitments: {result.created} created, {result.updated} updated, "
            f"{result.removed} removed"
        )
