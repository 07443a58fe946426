"""``manage.py demo``: catalogs, demo users and evidence from local sandboxes (see make demo)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.demo.setup import demo_setup


class Command(BaseCommand):
    help = "Load catalogs, create one demo user per role and collect from local sandboxes."

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
        self.stdout.write("Sign in at http://127.0.0.1:8000/accounts/login/")
