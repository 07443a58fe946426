from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pixaudit.reports.management.commands._scope import add_scope_arguments, resolve_scope


class Command(BaseCommand):
    help = (
        "Render the PDF report of a framework and period (default: the last 90 days). The "
        "report pins the evidence it was rendered from; `manage.py pack` packs exactly that."
    )

    def add_arguments(self, parser):
        add_scope_arguments(parser)
        parser.add_argument("--out", required=True, help="Where to write the PDF.")

    def handle(self, *args, **options):
        from pixaudit.reports.models import ReportStatus
        from pixaudit.reports.services import report_pdf_bytes, report_render_now

        scope = resolve_scope(options)
        start = time.perf_counter()
        report = report_render_now(scope=scope)
        if report.status != ReportStatus.SUCCEEDED:
            raise CommandError(f"report {report.pk} failed: {report.error_message}")
        Path(options["out"]).write_bytes(report_pdf_bytes(report=report))
        self.stdout.write(
            f"report {report.pk}: {scope.framework.key} {scope.period}, {report.page_count} pages "
            f"in {time.perf_counter() - start:.1f} s -> {options['out']} "
            f"(sha256 {report.sha256})\n"
            f"its evidence pack (this PDF and the evidence it was rendered from): "
            f"manage.py pack --report {report.pk} --out pack.zip"
        )
