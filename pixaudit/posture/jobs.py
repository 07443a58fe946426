"""Thin jobs of the posture app (django-rq; arguments are ids only).

Schedule ``readiness_snapshots_job`` once a day (``pixaudit/cron.py``); running it again the
same day appends another snapshot, and the trend shows the day's latest (snapshots are
append-only history).
"""

from __future__ import annotations

from django_rq import job

from pixaudit.posture.services import readiness_snapshots_take_all


@job("default")
def readiness_snapshots_job() -> int:
    """Take today's readiness snapshot of every framework; returns how many were taken."""
    return len(readiness_snapshots_take_all())
