"""``manage.py collectors``: list registered collectors, write their docs, print IAM policies."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collectors import registry
from pixaudit.evidence.collector_docs import collectors_markdown


class Command(BaseCommand):
    help = "List registered collectors (key, title, source, params, permissions, controls)."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="Only collectors of this source (aws, tls, ...)")
        parser.add_argument(
            "--doc",
            nargs="?",
            const=str(Path(settings.BASE_DIR) / "docs" / "collectors.md"),
            metavar="PATH",
            help="Write Markdown docs generated from the declarations (default docs/collectors.md)",
        )
        parser.add_argument(
            "--iam-policy",
            metavar="SOURCE",
            choices=["aws"],
            help="Print a least-privilege IAM policy covering every collector of SOURCE",
        )
        parser.add_argument("--json", action="store_true", help="Print the declarations as JSON")

    def handle(self, *args, **options):
        registry.discover()
        for name, error in registry.load_errors:
            self.stderr.write(self.style.WARNING(f"collector failed to load: {name}: {error}"))
        classes = [
            c
            for c in registry.all_collectors()
            if not options["source"] or c.source == options["source"]
        ]
        if options["source"] and not classes:
            raise CommandError(f"no collector has source {options['source']!r}")
        if options["iam_policy"]:
            from collectors.aws._policy import iam_policy

            aws = [c for c in classes if c.source == "aws"]
            self.stdout.write(json.dumps(iam_policy(aws), indent=2))
            return
        if options["doc"]:
            path = Path(options["doc"])
            path.write_text(collectors_markdown(classes), encoding="utf-8")
            self.stdout.write(f"wrote {path} ({len(classes)} collectors)")
            return
        if options["json"]:
            self.stdout.write(json.dumps([c.docs() for c in classes], indent=2, default=str))
            return
        for cls in classes:
            params = ", ".join(
                f"{p.name}{'*' if p.required else ''}{' (secret)' if p.secret else ''}"
                for p in cls.params
            )
            self.stdout.write(self.style.MIGRATE_HEADING(f"{cls.key}") + f"  {cls.title}")
            self.stdout.write(f"  source: {cls.source}   version: {cls.version}")
            self.stdout.write(f"  params: {params or '-'}")
            self.stdout.write(f"  permissions: {', '.join(cls.permissions) or '-'}")
            self.stdout.write(f"  controls: {', '.join(cls.controls()) or '-'}")
