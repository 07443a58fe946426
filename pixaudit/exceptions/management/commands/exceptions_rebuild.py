"""``manage.py exceptions_rebuild``: recompute the exceptions register from the findings
history (owners, notes and acceptances are kept)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from pixaudit.exceptions.services import exceptions_rebuild, exceptions_sync


class Command(BaseCommand):
    help = (
        "Recompute the exceptions register from the whole findings history, keeping owners, "
        "notes and acceptances; --sync only replays the items appended since the last update."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--sync", action="store_true",
            help="Only catch up with items appended since the register was last updated.",
        )  # fmt: skip

    def handle(self, *args, **options):
        try:
            result = exceptions_sync() if options["sync"] else exceptions_rebuild()
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Replayed {result.items} evidence item(s) up to chain item {result.seq}: "
            f"{result.created} exception(s) created, {result.updated} updated, "
            f"{result.removed} removed."
        )
