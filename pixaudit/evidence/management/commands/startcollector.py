"""``manage.py startcollector SOURCE NAME``: scaffold a collector, its test and its fixtures.

In this checkout it also regenerates ``docs/collectors.md`` (as ``make docs`` does), so the
scaffold passes ``make test`` as generated.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collectors import registry
from collectors.scaffold import ScaffoldError, collector_key, scaffold_collector
from pixaudit.evidence.collector_docs import DOC_PATH, write_collectors_doc


class Command(BaseCommand):
    help = (
        "Create collectors/<source>/<source>_<name>.py, its test and its fixtures, and "
        "regenerate docs/collectors.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="Source prefix, e.g. jira")
        parser.add_argument("name", help="Subject, e.g. projects (key becomes jira_projects)")
        parser.add_argument(
            "--root",
            default=str(settings.BASE_DIR),
            help="Project root to write into (default: this checkout)",
        )

    def handle(self, *args, **options):
        root = Path(options["root"])
        try:
            created = scaffold_collector(root, options["source"], options["name"])
        except ScaffoldError as exc:
            raise CommandError(str(exc)) from None
        for path in created:
            self.stdout.write(f"created {_shown(path, root)}")
        key = collector_key(options["source"], options["name"])
        if root.resolve() == Path(settings.BASE_DIR).resolve():
            registry.discover(refresh=True)
            if key not in {cls.key for cls in registry.all_collectors()}:
                errors = "; ".join(f"{name}: {error}" for name, error in registry.load_errors)
                raise CommandError(f"{key} was created but does not register: {errors}")
            count = write_collectors_doc()
            self.stdout.write(f"updated {_shown(DOC_PATH, root)} ({count} collectors)")
        else:
            self.stdout.write(
                f"{DOC_PATH.name} not regenerated: --root is not this checkout "
                "(run `make docs` there)"
            )
        source = key.split("_", 1)[0]
        self.stdout.write(
            "Next (docs/writing-a-collector.md):\n"
            f"  .venv/bin/python -m pytest tests/collectors/{source}/test_{key}.py\n"
            f"  then replace the example API, columns and assertion in "
            f"collectors/{source}/{key}.py,\n"
            f"  record the real API's answers in tests/collectors/fixtures/{key}/routes.json,\n"
            "  and run `make docs` and `make test`."
        )


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it (shorter, and what the guide shows)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
