"""Scheduling is data: what is due, what to enqueue, what to retry, what a dead worker left.

One periodic job (``pixaudit/cron.py``) calls :func:`collections_enqueue_due` every tick;
nothing else keeps per-collector timers. A tick sweeps dead runs and lost jobs
(``sweep.py``), hands due retries to the workers (``retries.py``), then enqueues every
connection that is due: enabled, without a queued or running run, and ``next_run_at`` (set
after every run from its schedule or the collector's ``max_age``) passed. Runs are handed
over by id; the push to Redis happens after the transaction commits (``queueing.py``), so a
worker never looks for a run its creator rolled back.

Layers, lowest first: ``runs`` (the runner) ← ``queueing`` (RQ) ← ``retries`` ← ``sweep`` ←
this module ← ``pixaudit.evidence.jobs``. Nothing here imports the jobs module.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, Connection, RunStatus, RunTrigger
from pixaudit.evidence.services.connections import app_register_collector_keys, push_collector_keys
from pixaudit.evidence.services.queueing import COLLECT_QUEUE, collection_run_dispatch
from pixaudit.evidence.services.retries import (
    PENDING,
    collection_retries_dispatch_due,
    collection_run_followup,
    collection_run_is_pending,
    retry_backoff,
)
from pixaudit.evidence.services.run_failures import current_state_failures_sync
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    collection_run_adopt,
    collection_run_create,
)
from pixaudit.evidence.services.sweep import collection_runs_sweep

__all__ = [
    "COLLECT_QUEUE",
    "collection_retries_dispatch_due",
    "collection_run_enqueue",
    "collection_run_followup",
    "collection_run_start",
    "collection_runs_sweep",
    "collections_enqueue_due",
    "connections_due",
    "retry_backoff",
]

logger = logging.getLogger("pixaudit.evidence.scheduling")


def collection_run_enqueue(*, connection: Connection, trigger: str) -> CollectionRun:
    """Create a run of ``connection`` and hand it to the queue; raises ``CollectionRunActive``."""
    with transaction.atomic():
        run = collection_run_create(connection=connection, trigger=trigger)
        collection_run_dispatch(run=run)
    return run


def collection_run_start(
    *, connection: Connection, trigger: str, foreground: bool = False
) -> CollectionRun:
    """Start a run of ``connection`` on a user's request ("Run now", ``collect --connection``).

    When the connection seems busy, its runs are swept first (without handing anything to
    the queue): a run left by a dead process is failed and its retry is due now; a run whose
    job was lost is released. A run waiting to be handed over (such a retry, a released run,
    a retry waiting for its due time) is started now instead of a new run: handed to the
    queue, or, with ``foreground=True``, returned owned by this process for it to execute.
    Raises :class:`CollectionRunActive` when a live run is active.
    """

    def create() -> CollectionRun:
        if foreground:
            return collection_run_create(connection=connection, trigger=trigger, foreground=True)
        return collection_run_enqueue(connection=connection, trigger=trigger)

    try:
        return create()
    except CollectionRunActive:
        collection_runs_sweep(connection=connection, hand_over=False)
    try:
        return create()
    except CollectionRunActive as exc:
        active = exc.run
        if active is None or not collection_run_is_pending(active):
            raise
        if foreground:
            return collection_run_adopt(run_id=active.pk)
        if not collection_run_dispatch(run=active, expect=PENDING):
            raise
        logger.info("run %s: retry started now on request (was due %s)", active.pk, active.retry_at)
        return active


def connections_due(*, now: datetime | None = None):
    """Enabled connections whose next run time has come and that have no active run.

    Connections of push collectors are never due: their evidence arrives by API; nor are
    (legacy) connections of app-register collectors: the app records their evidence.
    """
    now = now or timezone.now()
    active = CollectionRun.objects.filter(
        connection=OuterRef("pk"), status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    )
    return (
        Connection.objects.filter(enabled=True)
        .exclude(collector_key__in=push_collector_keys() + app_register_collector_keys())
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        .exclude(Exists(active))
        .order_by("next_run_at", "pk")
    )


def collections_enqueue_due(*, now: datetime | None = None) -> list[CollectionRun]:
    """The tick: sweep dead runs and lost jobs, dispatch due retries, bring run-failure rows
    of current state up to date (a catch-all: the runner already writes them when a run
    fails), enqueue due connections.

    Returns the runs of due connections it enqueued.
    """
    collection_runs_sweep(now=now)
    collection_retries_dispatch_due(now=now)
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
