from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pixaudit.reports.management.commands._scope import add_scope_arguments, resolve_scope


class Command(BaseCommand):
    help = (
        "Write the signed evidence pack (ZIP) of a rendered report: its stored PDF and exactly "
        "the evidence it was rendered from. With --report, that report; otherwise the newest "
        "report already rendered for the framework and period (as `manage.py report` made it), "
        "or a new one if there is none or with --render."
    )

    def add_arguments(self, parser):
        add_scope_arguments(parser)
        parser.add_argument("--out", required=True, help="Where to write the ZIP.")
        parser.add_argument("--report", type=int, help="Pack this rendered report (by id).")
        parser.add_argument(
            "--render",
            action="store_true",
            help="Render a new report of the framework and period first, and pack that one.",
        )

    def handle(self, *args, **options):
        from pixaudit.reports.models import Report, ReportStatus
        from pixaudit.reports.selectors import report_evidence_pin, report_latest_succeeded
        from pixaudit.reports.services import PackUnavailable, pack_build, report_render_now

        if options.get("report"):
            if options["render"]:
                raise CommandError("--render and --report exclude each other")
            report = Report.objects.select_related("framework").filter(pk=options["report"]).first()
            if report is None:
                raise CommandError(f"no report {options['report']}")
            how = "given"
        else:
            scope = resolve_scope(options)
            report = None
            if not options["render"]:
                report = report_latest_succeeded(
                    framework=scope.framework,
                    period=scope.period,
                    engagement_id=scope.engagement_id,
                    aws_account=scope.aws_account,
                    aws_ou=scope.aws_ou,
                )
            how = "rendered earlier; --render for a new one"
            if report is None:
                report = report_render_now(scope=scope)
                how = "rendered now"
        if report.status != ReportStatus.SUCCEEDED:
            detail = report.error_message or f"status {report.get_status_display().lower()}"
            raise CommandError(f"report {report.pk} has no PDF: {detail}")
        out = Path(options["out"])
        fd, tmp = tempfile.mkstemp(prefix=".pack-", suffix=".zip", dir=out.parent or ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                result = pack_build(report=report, fileobj=fh)
            os.replace(tmp, out)
        except PackUnavailable as exc:
            Path(tmp).unlink(missing_ok=True)
            raise CommandError(str(exc)) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        pin = report_evidence_pin(report=report)
        items = len(pin.evidence_ids) if pin else 0
        finished = f"{report.finished_at:%Y-%m-%d %H:%M} UTC" if report.finished_at else "?"
        self.stdout.write(
            f"pack of report {report.pk} ({how}; finished {finished}, {items} evidence "
            f"item{'s' if items != 1 else ''} up to chain item {report.chain_head_seq}, "
            f"PDF sha256 {report.sha256}): {result.files} files -> {out} "
            f"(manifest sha256 {result.manifest_sha256})"
        )
