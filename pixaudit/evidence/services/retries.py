"""Retries of transiently failed runs: created at once, handed to a worker when due.

A retry is a new run (``attempt`` + 1, ``retry_of`` the failed one) created in the same
transaction as the failure (``runs._fail_row``), its due time stored on its row
(``retry_at``). The scheduler tick (:func:`collection_retries_dispatch_due`) hands
every due retry to the workers, so retries keep their time whichever worker or Redis server
died meanwhile; nothing depends on RQ's own scheduler. With the embedded queue there is no
tick: the retry runs at once, in-process.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, RunStatus
from pixaudit.evidence.services.queueing import collection_run_dispatch, jobs_in_process
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    collection_run_retry,
    retry_backoff,
)

logger = logging.getLogger("pixaudit.evidence.scheduling")

#: A queued run with no owner yet: a retry waiting for ``retry_at`` (or one that is due).
PENDING = {"enqueued_at__isnull": True, "worker": ""}

__all__ = [
    "PENDING",
    "collection_retries_dispatch_due",
    "collection_run_followup",
    "collection_run_is_pending",
    "retry_backoff",
]


def collection_run_is_pending(run: CollectionRun) -> bool:
    """True for a queued run nobody owns yet (a retry waiting for its due time)."""
    return run.status == RunStatus.QUEUED and run.enqueued_at is None and not run.worker


def collection_run_followup(*, run: CollectionRun, due_now: bool = False) -> CollectionRun | None:
    """After a run failed: see to its next attempt, if it failed transiently (idempotent).

    The failure itself created the retry, due after the backoff (``runs.retry_backoff``);
    this creates it if it is missing (a run failed before retries were created that way),
    and with the embedded queue dispatches it, and so executes it, at once. ``due_now``
    makes it due now and dispatches nothing: the caller starts it (a user's "Run now").
    """
    if run.status != RunStatus.FAILED:
        return None
    retry = CollectionRun.objects.filter(retry_of=run).first()
    if retry is None:
        if not run.should_retry:
            return None
        due = (run.finished_at or timezone.now()) + retry_backoff(run.attempt)
        try:
            retry = collection_run_retry(run_id=run.pk, retry_at=due)
        except CollectionRunActive:
            return None  # the connection has another active run
    in_process = jobs_in_process() and not due_now
    if (due_now or in_process) and collection_run_is_pending(retry):
        now = timezone.now()
        CollectionRun.objects.filter(pk=retry.pk, status=RunStatus.QUEUED, **PENDING).update(
            retry_at=now
        )
        retry.retry_at = now
        if in_process:
            collection_run_dispatch(run=retry, expect=PENDING)
    else:
        logger.info(
            "run %s failed transiently; attempt %s (run %s) due at %s",
            run.pk, retry.attempt, retry.pk, retry.retry_at,
        )  # fmt: skip
    return retry


def collection_retries_dispatch_due(*, now: datetime | None = None) -> list[CollectionRun]:
    """Hand every queued run whose due time has come, and that nobody owns, to the workers."""
    now = now or timezone.now()
    due = CollectionRun.objects.filter(status=RunStatus.QUEUED, **PENDING).filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    dispatched = [run for run in due.order_by("retry_at", "pk") if
                  collection_run_dispatch(run=run, expect=PENDING)]  # fmt: skip
    if dispatched:
        logger.info(
            "dispatched %d due retr%s", len(dispatched), "y" if len(dispatched) == 1 else "ies"
        )
    return dispatched
