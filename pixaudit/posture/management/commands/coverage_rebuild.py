"""``manage.py coverage_rebuild``: recompute the daily coverage rollup from the evidence history."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from pixaudit.auditlog.services import audit_log_record
from pixaudit.posture.rollup import coverage_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the daily coverage rollup (one row per assertion and day) from the "
        "evidence history, replacing the rows written at ingest."
    )

    def handle(self, *args, **options):
        started = time.perf_counter()
        rows = coverage_rebuild()
        seconds = time.perf_counter() - started
        audit_log_record(actor=None, action="coverage.rebuilt", obj=None, rows=rows)
        self.stdout.write(f"Coverage rollup rebuilt: {rows} rows in {seconds:.1f} s.")
