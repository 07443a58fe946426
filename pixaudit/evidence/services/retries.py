"""Retries of transiently failed runs: created at once, handed to a worker when due.

A retry is a new run (``attempt`` + 1, ``retry_of`` the failed one) created in the same
transaction as the failure (``runs._fail_row``), its due time stored on its row
(``retry_at``). The scheduler tick (:func:`collection_retries_dispatch_due`) hands
every due retry to the workers, so retries keep their time whichever worker or Redis server
died meanwhile; nothing depends on RQ's own scheduler. With the embedded queue there is no
tick: when the web process serves the queues in its threads (``lib/embedded_worker``), the
retry is handed over by a job scheduled for its due time (``RETRY_DISPATCH_JOB``, which the
threads move onto the queue when due, never earlier); elsewhere (a command run by hand)
the retry runs at once, in-process.
"""

from __future__ import annotations

import logging
from datetime import datetime

import django_rq
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, RunStatus
from pixaudit.evidence.services.queueing import (
    COLLECT_QUEUE,
    collection_run_dispatch,
    jobs_in_process,
)
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    collection_run_retry,
    retry_backoff,
)
from pixaudit.lib.embedded_worker import embedded_worker_running

logger = logging.getLogger("pixaudit.evidence.scheduling")

#: A queued run with no owner yet: a retry waiting for ``retry_at`` (or one that is due).
PENDING = {"enqueued_at__isnull": True, "worker": ""}
#: Hands one retry over when it is due (``pixaudit.evidence.jobs``), by dotted path.
RETRY_DISPATCH_JOB = "pixaudit.evidence.jobs.collection_retry_dispatch"

__all__ = [
    "PENDING",
    "collection_retries_dispatch_due",
    "collection_retry_dispatch_when_due",
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
    if not due_now and embedded_worker_running() and collection_run_is_pending(retry):
        _retry_schedule(retry)
        return retry
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


def _retry_schedule(retry: CollectionRun) -> None:
    """Embedded worker: a job that hands ``retry`` over at its due time (after commit)."""
    due = retry.retry_at or timezone.now()

    def schedule() -> None:
        queue = django_rq.get_queue(COLLECT_QUEUE)
        queue.enqueue_at(due, RETRY_DISPATCH_JOB, retry.pk, job_id=f"pixaudit-retry-{retry.pk}")

    transaction.on_commit(schedule)
    logger.info("run %s (attempt %s) scheduled for %s", retry.pk, retry.attempt, due)


def collection_retry_dispatch_when_due(*, run_id: int, now: datetime | None = None) -> bool:
    """Hand the retry ``run_id`` to the workers if nobody owns it and it is due (the job
    :func:`_retry_schedule` scheduled); False when it is not (any longer) waiting, or not due."""
    now = now or timezone.now()
    run = CollectionRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, **PENDING).first()
    if run is None:
        return False
    if run.retry_at is not None and run.retry_at > now:
        logger.warning("run %s is not due before %s; not handed over", run.pk, run.retry_at)
        return False
    return collection_run_dispatch(run=run, expect={**PENDING, "retry_at": run.retry_at})


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
