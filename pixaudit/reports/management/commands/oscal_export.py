from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from pixaudit.reports.management.commands._scope import add_scope_arguments, resolve_scope


class Command(BaseCommand):
    help = (
        "Export OSCAL assessment results (and the catalog they refer to) for a framework and "
        "period. Evidence hrefs point at the artifacts' paths inside the evidence pack."
    )

    def add_arguments(self, parser):
        add_scope_arguments(parser)
        parser.add_argument("--out-dir", required=True, help="Folder for the two JSON files.")

    def handle(self, *args, **options):
        from pixaudit.reports import oscal
        from pixaudit.reports.services import oscal_export

        scope = resolve_scope(options)
        catalog, results = oscal_export(scope=scope)
        out = Path(options["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "catalog.json").write_bytes(oscal.dumps(catalog))
        (out / "assessment-results.json").write_bytes(oscal.dumps(results))
        n_obs = len(results["assessment-results"]["results"][0].get("observations", []))
        self.stdout.write(
            f"{scope.framework.key} {scope.period}: {n_obs} observations -> "
            f"{out / 'assessment-results.json'}, {out / 'catalog.json'}"
        )
