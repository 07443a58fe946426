"""``manage.py run_scheduled``: the scheduler's work, once, for hosts without ``rqcron``.

``pixaudit/cron.py`` is what ``rqcron`` runs with Redis. In the embedded default (no
``REDIS_URL``) there is no scheduler process and no worker: jobs run inside the process that
queues them. This command queues the same periodic jobs from the system's cron (or a
systemd timer), so they run right here, in the command's process:

    * * * * *  cd /srv/pixaudit && .venv/bin/python manage.py run_scheduled
    5 0 * * *  cd /srv/pixaudit && .venv/bin/python manage.py run_scheduled --daily

With ``REDIS_URL`` set it only queues the due collections for the workers (use ``rqcron``
there instead; running both is harmless: a connection never has two active runs).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.awsorg.services.runs import aws_integrations_enqueue_due
from pixaudit.changes.jobs import change_tickets_job
from pixaudit.evidence.models import CollectionRun, RunStatus
from pixaudit.evidence.services.scheduling import collections_enqueue_due
from pixaudit.exceptions.jobs import exceptions_daily_job
from pixaudit.notifications.jobs import notifications_digest_job
from pixaudit.people.jobs import people_daily_job
from pixaudit.posture.jobs import readiness_snapshots_job
from pixaudit.reports.jobs import pack_builds_sweep_job
from pixaudit.reviews.jobs import reviews_daily_job
from pixaudit.tasks.jobs import tasks_daily_job, work_tick_job
from pixaudit.vendors.jobs import vendors_daily_job

#: Daily jobs that append platform evidence, in order: the line's label, the job, the rest
#: of the line when it appended (formatted with the job's result), and the reason printed
#: when it skipped (its result has no ``evidence``).
_EVIDENCE_JOBS = (
    ("Leaver test", people_daily_job, "{accounts} accounts", "no HR evidence yet"),
    ("Vendor register", vendors_daily_job, "{reminders} reminder(s) sent", "empty register"),
    (
        "Change tickets",
        change_tickets_job,
        "{changes} change(s)",
        "no github_pull_requests evidence",
    ),
)


class Command(BaseCommand):
    help = (
        "Run the scheduler's periodic work once in this process: sweep abandoned runs and "
        "collect every due connection; with --daily, also take the readiness snapshots and "
        "do the access-review day (start due reviews, check follow-ups, send reminders). "
        "For the embedded default, from cron; with Redis, rqcron does this."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--daily",
            action="store_true",
            help="Also run the daily jobs (readiness snapshots, access-review day).",
        )

    def handle(self, *args, **options):
        runs = collections_enqueue_due()
        if not runs:
            self.stdout.write("No connection is due.")
        for run in CollectionRun.objects.filter(pk__in=[r.pk for r in runs]).select_related(
            "connection"
        ):
            name = run.connection.name if run.connection else run.collector_key
            if run.status == RunStatus.FAILED:
                self.stderr.write(self.style.ERROR(f"{name}: failed: {run.error_message}"))
            else:
                self.stdout.write(f"{name}: {run.get_status_display().lower()}")
        tick = work_tick_job()
        if tick["errors"] or tick["dispatched"]:
            self.stdout.write(f"Notifications: {tick['errors']} collection error(s) reported, "
                              f"{tick['dispatched']} delivery retries attempted")  # fmt: skip
        for aws_run in aws_integrations_enqueue_due():  # AWS integrations that are due
            aws_run.refresh_from_db()
            state = aws_run.get_status_display().lower()
            self.stdout.write(f"AWS integration {aws_run.integration.name}: {state}")
        if options["daily"]:
            work = tasks_daily_job()
            digest = notifications_digest_job()
            self.stdout.write(
                f"Tasks: {work['review_tasks']} review, {work['manual_tasks']} manual evidence, "
                f"{work['commitment_tasks']} commitment task(s) created; {work['overdue']} "
                f"overdue notice(s); digests sent: {digest['sent']}"
            )
            snapshots = readiness_snapshots_job()
            reviews = reviews_daily_job()
            self.stdout.write(f"Readiness snapshots taken: {snapshots}")
            self.stdout.write(
                f"Access reviews: {reviews.get('started', 0)} started, "
                f"{reviews.get('followups_checked', 0)} follow-ups checked, reminders sent: "
                f"{reviews.get('campaign', 0)} to reviewers, "
                f"{reviews.get('manual', 0)} to manual evidence owners"
            )
            exceptions = exceptions_daily_job()
            self.stdout.write(
                f"Exceptions register: {exceptions['items']} item(s) replayed, "
                f"{exceptions['expired_acceptances']} acceptance expiry(ies) recorded"
            )
            for label, job, appended, skipped in _EVIDENCE_JOBS:
                result = job()
                if "evidence" in result:
                    detail = appended.format(**result)
                    self.stdout.write(f"{label}: evidence #{result['evidence']}, {detail}")
                else:
                    self.stdout.write(f"{label}: skipped ({skipped})")
            packs = pack_builds_sweep_job()
            self.stdout.write(f"Evidence pack files removed by retention: {packs['swept']}")
