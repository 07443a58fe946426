"""Load control catalogs (YAML) into the database: ``manage.py load_catalogs [PATH ...]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from pixaudit.controls.catalog_loader import CatalogError
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.services import (
    MappingDeclarationError,
    builtin_catalog_paths,
    catalog_load,
)


class Command(BaseCommand):
    help = (
        "Load framework catalogs from YAML (default: every file shipped in "
        "pixaudit/controls/catalogs). Idempotent; all files load in one transaction. Then "
        "stores the installed collectors' check-to-control mappings when loading the shipped "
        "set (run it again after installing or upgrading a collector plugin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, help="catalog YAML files")
        parser.add_argument(
            "--no-mappings",
            action="store_true",
            help="Load catalogs only; do not sync the collectors' control mappings",
        )

    def handle(self, *args, **options):
        paths = options["paths"] or builtin_catalog_paths()
        if not paths:
            raise CommandError("no catalog files to load")
        results = []
        seen: dict[str, Path] = {}
        try:
            with transaction.atomic():
                for path in paths:
                    result = catalog_load(path=path)
                    if result.framework in seen:
                        raise CommandError(
                            f"{path}: framework key '{result.framework}' is also "
                            f"defined in {seen[result.framework]}"
                        )
                    seen[result.framework] = path
                    results.append(result)
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            self.stdout.write(
                f"{result.framework}: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged, {result.removed} removed"
            )
        if options["no_mappings"] or options["paths"]:
            # Mappings reference both shipped frameworks: sync them with the full set only.
            return
        try:
            synced = check_mappings_sync_from_registry()
        except MappingDeclarationError as exc:
            raise CommandError(f"collector mappings not stored: {exc}") from exc
        self.stdout.write(
            f"check mappings: {synced.created} created, {synced.updated} updated, "
            f"{synced.unchanged} unchanged, {synced.deleted} deleted"
        )
