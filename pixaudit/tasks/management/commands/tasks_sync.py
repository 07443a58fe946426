"""``manage.py tasks_sync``: bring product-made tasks up to date now (the daily job's work)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pixaudit.tasks.automation import (
    collection_errors_watch,
    control_changes_apply,
    tasks_daily_sync,
)


class Command(BaseCommand):
    help = (
        "Create the tasks pixaudit knows are needed (failing controls, pending access review "
        "decisions, expiring manual evidence, commitments without evidence), resolve those "
        "no longer needed, and send overdue and due notices. Safe to repeat: one task and "
        "one notice per change."
    )

    def handle(self, *args, **options):
        changes = control_changes_apply()
        errors = collection_errors_watch()
        daily = tasks_daily_sync()
        self.stdout.write(
            f"Controls turned failing: {changes['failing']}, recovered: {changes['recovered']}; "
            f"collection errors reported: {errors}; tasks created: {daily['review_tasks']} "
            f"access review, {daily['manual_tasks']} manual evidence, "
            f"{daily['commitment_tasks']} commitment; overdue notices: {daily['overdue']}"
        )
