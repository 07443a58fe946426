"""Scheduling is data: what is due, what to enqueue, what to retry, what a dead worker left.

One periodic job (``pixaudit/cron.py``) calls :func:`collections_enqueue_due`; nothing else
keeps per-collector timers. A connection is due when it is enabled, has no queued or running
run, and its ``next_run_at`` (set after every run from its schedule or the collector's
``max_age``) has passed. Runs are enqueued with ids only; django-rq defers the enqueue until
the surrounding transaction commits (``RQ["COMMIT_MODE"] = "on_db_commit"``), so a worker
never looks for a run its creator rolled back.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, Connection, RunStatus, RunTrigger
from pixaudit.evidence.services.run_failures import current_state_failures_sync
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    collection_run_create,
    collection_run_mark_stale,
    collection_run_retry,
)

logger = logging.getLogger("pixaudit.evidence.scheduling")

#: Seconds to wait before attempt 2, attempt 3, ... of a transiently failed run.
RETRY_BACKOFF_SECONDS = (30, 120, 600)
COLLECT_QUEUE = "collect"


def _job_id(run: CollectionRun) -> str:
    return f"pixaudit-run-{run.pk}"


def collection_run_job_enqueue(*, run: CollectionRun, delay: timedelta | None = None) -> None:
    """Put a queued run on the ``collect`` queue (after commit), now or after ``delay``.

    With the embedded queue (no ``REDIS_URL``) jobs run in-process as soon as they are
    enqueued, so a delay cannot be honoured: the retry runs at once.
    """
    from pixaudit.evidence.jobs import collection_run_execute

    queue = django_rq.get_queue(COLLECT_QUEUE)
    if delay and queue.is_async:
        # Needs a worker started with --with-scheduler (see README, "Running workers").
        queue.enqueue_in(delay, collection_run_execute, run.pk, job_id=_job_id(run))
    else:
        queue.enqueue(collection_run_execute, run.pk, job_id=_job_id(run))


def collection_run_enqueue(*, connection: Connection, trigger: str) -> CollectionRun:
    """Create a run of ``connection`` and enqueue it; raises ``CollectionRunActive``."""
    run = collection_run_create(connection=connection, trigger=trigger)
    collection_run_job_enqueue(run=run)
    return run


def connections_due(*, now: datetime | None = None):
    """Enabled connections whose next run time has come and that have no active run."""
    now = now or timezone.now()
    active = CollectionRun.objects.filter(
        connection=OuterRef("pk"), status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    )
    return (
        Connection.objects.filter(enabled=True)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        .exclude(Exists(active))
        .order_by("next_run_at", "pk")
    )


def collections_enqueue_due(*, now: datetime | None = None) -> list[CollectionRun]:
    """Sweep runs abandoned by dead workers, bring run-failure rows of current state up to
    date (a catch-all: the runner already writes them when a run fails), then enqueue every
    due connection."""
    collection_runs_sweep()
    current_state_failures_sync()
    runs = []
    for connection in connections_due(now=now):
        try:
            runs.append(collection_run_enqueue(connection=connection, trigger=RunTrigger.SCHEDULE))
        except CollectionRunActive:
            continue  # another scheduler got there first: the database kept it to one run
    if runs:
        logger.info("enqueued %d due collection(s)", len(runs))
    return runs


def collection_run_followup(*, run: CollectionRun) -> CollectionRun | None:
    """After a run finished: queue the next attempt of a transient failure, with backoff."""
    if not run.should_retry:
        return None
    delay = RETRY_BACKOFF_SECONDS[min(run.attempt, len(RETRY_BACKOFF_SECONDS)) - 1]
    try:
        retry = collection_run_retry(run_id=run.pk)
    except CollectionRunActive:
        return None
    logger.info("run %s failed transiently; attempt %s in %ss", run.pk, retry.attempt, delay)
    collection_run_job_enqueue(run=retry, delay=timedelta(seconds=delay))
    return retry


def _local_worker_dead(worker: str) -> bool:
    # A worker on this machine that no longer exists cannot finish its run. Workers on other
    # machines are judged by the job timeout instead.
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _local_worker_alive(worker: str) -> bool:
    # A process on this machine that still exists (a foreground `collect`, which no job
    # timeout bounds): failing its run would let a retry collect the connection concurrently.
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collection_runs_sweep() -> int:
    """Fail runs whose worker died (kill -9, OOM, lost machine) and queue their retries."""
    running = CollectionRun.objects.filter(status=RunStatus.RUNNING).exclude(job_id="")
    dead_jobs = {job for job, worker in running.values_list("job_id", "worker")
                 if _local_worker_dead(worker)}  # fmt: skip
    timeout = settings.RQ_QUEUES[COLLECT_QUEUE].get("DEFAULT_TIMEOUT", 1800)
    before = set(
        CollectionRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", flat=True)
    )
    count = collection_run_mark_stale(
        older_than=timedelta(seconds=timeout + 60),
        job_exists=lambda job: job not in dead_jobs,
        alive=_local_worker_alive,
    )
    if count:
        for run in CollectionRun.objects.filter(pk__in=before, status=RunStatus.FAILED):
            collection_run_followup(run=run)
    return count
