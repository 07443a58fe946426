from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pixaudit.reports.management.commands._scope import add_scope_arguments, resolve_scope


class Command(BaseCommand):
    help = (
        "Build the signed evidence pack (ZIP) of a framework and period: renders the report, "
        "then writes the pack entry by entry."
    )

    def add_arguments(self, parser):
        add_scope_arguments(parser)
        parser.add_argument("--out", required=True, help="Where to write the ZIP.")
        parser.add_argument(
            "--report", type=int, help="Pack an already rendered report (by id) instead."
        )

    def handle(self, *args, **options):
        from pixaudit.reports.models import Report, ReportStatus
        from pixaudit.reports.services import pack_build, report_render_now

        if options.get("report"):
            report = Report.objects.select_related("framework").filter(pk=options["report"]).first()
            if report is None:
                raise CommandError(f"no report {options['report']}")
        else:
            report = report_render_now(scope=resolve_scope(options))
        if report.status != ReportStatus.SUCCEEDED:
            raise CommandError(f"report {report.pk} failed: {report.error_message}")
        out = Path(options["out"])
        fd, tmp = tempfile.mkstemp(prefix=".pack-", suffix=".zip", dir=out.parent or ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                result = pack_build(report=report, fileobj=fh)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stdout.write(
            f"pack of report {report.pk}: {result.files} files -> {out} "
            f"(manifest sha256 {result.manifest_sha256})"
        )
