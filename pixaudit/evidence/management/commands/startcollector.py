"""``manage.py startcollector SOURCE NAME``: scaffold a collector, its test and its fixtures."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collectors.scaffold import ScaffoldError, scaffold_collector


class Command(BaseCommand):
    help = "Create collectors/<source>/<source>_<name>.py, its test and its fixture folder."

    def add_arguments(self, parser):
        parser.add_argument("source", help="Source prefix, e.g. jira")
        parser.add_argument("name", help="Subject, e.g. projects (key becomes jira_projects)")
        parser.add_argument(
            "--root",
            default=str(settings.BASE_DIR),
            help="Project root to write into (default: this checkout)",
        )

    def handle(self, *args, **options):
        try:
            created = scaffold_collector(Path(options["root"]), options["source"], options["name"])
        except ScaffoldError as exc:
            raise CommandError(str(exc)) from None
        for path in created:
            self.stdout.write(f"created {path}")
        self.stdout.write("Next: edit the collector, then run its test with pytest.")
