"""Options shared by the report, pack and oscal_export commands."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError, CommandParser


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def add_scope_arguments(parser: CommandParser) -> None:
    parser.add_argument("--framework", help="Framework key, e.g. soc2-2017 or iso27001-2022.")
    parser.add_argument("--from", dest="start", type=_date, help="First day (UTC), YYYY-MM-DD.")
    parser.add_argument("--to", dest="end", type=_date, help="Last day (UTC), YYYY-MM-DD.")
    parser.add_argument(
        "--engagement", type=int, help="Audit engagement id: its window and framework."
    )
    parser.add_argument(
        "--aws-account", default="", help="Limit the report to this AWS account (12 digits)."
    )
    parser.add_argument(
        "--aws-ou", default="", help="Limit the report to the AWS accounts under this OU id."
    )


def resolve_scope(options: dict):
    from pixaudit.reports.services import ReportScopeError, report_scope_resolve

    try:
        return report_scope_resolve(
            framework_key=options.get("framework"),
            start=options.get("start"),
            end=options.get("end"),
            engagement_id=options.get("engagement"),
            aws_account=options.get("aws_account") or "",
            aws_ou=options.get("aws_ou") or "",
        )
    except ReportScopeError as exc:
        raise CommandError(str(exc)) from None
