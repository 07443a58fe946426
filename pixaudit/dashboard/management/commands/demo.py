"""``manage.py demo``: catalogs, demo users and evidence from local sandboxes (see make demo)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.demo.setup import demo_setup

DEFAULT_ADDR = "127.0.0.1:8000"


def closing_lines(then_serve: str | None) -> list[str]:
    """The demo's last words: where to sign in, and whether anything serves the site yet.

    ``make demo`` passes ``--then-serve ADDR`` because it starts the server right after;
    ``NO_SERVE=1 make demo`` and a bare ``manage.py demo`` serve nothing, so they say how to.
    """
    if then_serve:
        return [
            f"Serving the site on http://{then_serve}/ next (Ctrl-C stops it).",
            f"Sign in at http://{then_serve}/accounts/login/",
        ]
    return [
        "Nothing is serving the site yet. Start it with `make serve` "
        f"(or `python manage.py runserver {DEFAULT_ADDR}`),",
        f"then sign in at http://{DEFAULT_ADDR}/accounts/login/",
    ]


class Command(BaseCommand):
    help = "Load catalogs, create one demo user per role and collect from local sandboxes."

    def add_arguments(self, parser):
        parser.add_argument(
            "--then-serve",
            metavar="ADDR",
            help="The caller serves the site on ADDR (host:port) right after; say so.",
        )

    def handle(self, *args, **options):
        report = demo_setup()
        self.stdout.write(f"Catalogs loaded: {', '.join(report.catalogs)}")
        for note in report.notes:
            self.stdout.write(note)
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Collections"))
        for run in report.runs:
            name = run.connection.name if run.connection else run.collector_key
            if run.status == "succeeded":
                counts = (
                    f"{run.rows_count} rows · pass {run.findings_pass} · fail "
                    f"{run.findings_fail} · warn {run.findings_warn} · error {run.findings_error}"
                )
                self.stdout.write(f"  {self.style.SUCCESS('ok')}     {name}: {counts}")
            else:
                self.stdout.write(f"  {self.style.ERROR('failed')} {name}: {run.error_message}")
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Demo users (passwords are new each run)"))
        for cred in report.users:
            self.stdout.write(f"  {cred.role:<20} {cred.username:<28} {cred.password}")
            if cred.recovery_codes:
                # MFA is required for this role: any one of these works once at the MFA step.
                self.stdout.write(f"  {'':<20} MFA recovery codes: {' '.join(cred.recovery_codes)}")
                self.stdout.write(f"  {'':<20} or add to an authenticator: {cred.totp_uri}")
        self.stdout.write("")
        pdf = report.report
        if pdf is not None and pdf.status == "succeeded":
            self.stdout.write(
                f"SOC 2 report rendered: /reports/{pdf.pk}/ (PDF sha256 {pdf.sha256[:16]}…)"
            )
        elif pdf is not None:
            self.stdout.write(self.style.ERROR(f"SOC 2 report failed: {pdf.error_message}"))
        self.stdout.write(f"Policy commitments loaded: {report.commitments} (see /commitments/)")
        if report.campaign is not None:
            self.stdout.write(
                f"Access review open: {report.campaign} (see /reviews/{report.campaign.pk}/)"
            )
        self.stdout.write(
            f"Audit engagement {report.engagement!r}: sign in as demo-auditor to see "
            "the external auditor's view."
        )
        for line in closing_lines(options.get("then_serve")):
            self.stdout.write(line)
