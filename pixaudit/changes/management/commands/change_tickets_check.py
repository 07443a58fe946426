"""``manage.py change_tickets_check``: join pull requests to the ticket populations now."""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from pixaudit.changes.services import change_tickets_refresh
from pixaudit.evidence.selectors_artifacts import ArtifactUnreadable


class Command(BaseCommand):
    help = (
        "Check that the ticket keys cited by merged pull requests (and direct pushes) are in "
        "a ticket population (jira_changes, linear_changes) and were approved before they were "
        "done, from the latest evidence of each connection; appends the result as "
        "change_tickets evidence."
    )

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            item = change_tickets_refresh(reason="manage.py change_tickets_check")
        except ArtifactUnreadable as exc:
            raise CommandError(f"Nothing was appended: {exc}.") from None
        if item is None:
            self.stdout.write("Nothing to check: no github_pull_requests evidence yet.")
            return
        counts = Counter(item.findings.values_list("status", flat=True))
        summary = ", ".join(f"{counts[s]} {s}" for s in ("pass", "fail", "warn", "error"))
        self.stdout.write(f"evidence #{item.seq}: {item.row_count} changes, {summary}")
