"""``manage.py collectors``: list, search and document collectors; print IAM policies."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collectors import registry
from pixaudit.evidence.collector_docs import DOC_PATH, builtin_collectors, collectors_markdown
from pixaudit.evidence.collector_search import search_collectors


class Command(BaseCommand):
    help = "List registered collectors (key, title, source, params, permissions, controls)."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="Only collectors of this source (aws, tls, ...)")
        parser.add_argument(
            "--doc",
            nargs="?",
            const=str(DOC_PATH),
            metavar="PATH",
            help="Write Markdown docs of the built-in collectors, generated from their "
            "declarations (default docs/collectors.md; `make docs` does this)",
        )
        parser.add_argument(
            "--search",
            metavar="WORDS",
            help="Find assertions and collectors whose ids, titles, columns, thresholds, "
            "rationale or remediation mention every word (e.g. --search hsts)",
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
        source = options["source"]
        classes = [c for c in registry.all_collectors() if not source or c.source == source]
        if source and not classes:
            raise CommandError(f"no collector has source {source!r}")
        if options["iam_policy"]:
            from collectors.aws._policy import iam_policy

            aws = [c for c in classes if c.source == "aws"]
            self.stdout.write(json.dumps(iam_policy(aws), indent=2))
            return
        if options["doc"]:
            path = Path(options["doc"])
            documented = [c for c in builtin_collectors() if not source or c.source == source]
            path.write_text(collectors_markdown(documented), encoding="utf-8")
            self.stdout.write(f"wrote {path} ({len(documented)} collectors)")
            return
        if options["search"] is not None:
            self._search(classes, options["search"])
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
            if cls.app_register:
                self.stdout.write(f"  app register: recorded from {cls.recorded_in}")
            elif cls.push:
                self.stdout.write(f"  push: rows arrive by POST /api/v1/push/{cls.key}/")
            self.stdout.write(f"  params: {params or '-'}")
            self.stdout.write(f"  permissions: {', '.join(cls.permissions) or '-'}")
            self.stdout.write(f"  controls: {', '.join(cls.controls()) or '-'}")

    def _search(self, classes, words: str) -> None:
        if not words.split():
            raise CommandError("--search needs at least one word")
        matches = search_collectors(classes, words)
        if not matches:
            self.stdout.write(f"nothing matches {words!r}")
            return
        for match in matches:
            self.stdout.write(self.style.MIGRATE_HEADING(match.name) + f"  {match.title}")
            for line in match.details:
                self.stdout.write(f"  {line}")
