"""The sweep: find runs nobody will finish or start, and put them right.

Runs the scheduler tick (every mode with workers) and, for one connection, just before a
user's "Run now" or ``manage.py collect --connection`` would answer "already running" (so the
embedded default, which has no tick, is swept too).

- A ``running`` run whose process is gone is failed with what happened: its worker was
  killed, the foreground ``collect`` stopped, or the database went away (read from the RQ
  job's failure). A process is judged on this host by pid *and* start time (a reused pid is
  not the owner); elsewhere by what RQ says of its job, and at last by the job timeout.
- A ``queued`` run whose job is gone (Redis restarted without persistence, a work horse
  killed before it claimed the run, a job that failed because PostgreSQL was down, a push
  to Redis that never happened) is handed to the queue again, with a new job id, at most
  :data:`MAX_REQUEUES` times. A queued run owned by a dead process is treated the same way.

On the tick a failed run's retry is due after the backoff, and lost runs are handed to the
queue at once. Before a user's own run (``hand_over=False``) the retry is due now and a lost
run is released instead: the caller starts that run (the user's "Run now" continues it).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, Connection, RunStatus
from pixaudit.evidence.services.queueing import (
    COLLECT_QUEUE,
    JobState,
    collection_job_state,
    collection_run_dispatch,
    collection_run_release,
)
from pixaudit.evidence.services.retries import collection_run_followup
from pixaudit.evidence.services.runs import (
    DATABASE_LOST_MESSAGE,
    FOREGROUND_STOPPED_MESSAGE,
    STALE_RUN_MESSAGE,
    collection_run_fail_abandoned,
    database_lost_message,
)
from pixaudit.lib.processes import ProcessState, local_process_state

logger = logging.getLogger("pixaudit.evidence.scheduling")

#: How many times a lost job is handed to the queue again before the attempt is failed.
MAX_REQUEUES = 5
#: A job handed to Redis this recently may still be on its way there (commit, then push).
PUSH_GRACE = timedelta(seconds=10)
#: A work horse claims its run within a second of starting; one "started" for this long
#: without claiming it died before it could.
START_GRACE = timedelta(seconds=30)
LOST_JOB_MESSAGE = "its job was lost before a worker started it"

_DB_ERRORS = ("OperationalError", "InterfaceError")


def _job_timeout() -> timedelta:
    return timedelta(seconds=settings.RQ_QUEUES[COLLECT_QUEUE].get("DEFAULT_TIMEOUT", 1800))


#: The line of a traceback that names the exception: "package.module.SomeError: message".
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): ?(.*)$")


def job_failure_message(failure: str) -> str:
    """A user's sentence for why an RQ job failed, from the exception text RQ stored."""
    failure = failure or ""
    signal = re.search(r"Work-horse terminated unexpectedly.*?\(signal (\d+)\)", failure)
    if "Work-horse terminated unexpectedly" in failure:
        return STALE_RUN_MESSAGE + (f" (killed by signal {signal[1]})" if signal else "")
    found = [m for line in failure.splitlines() if (m := _EXCEPTION_LINE.match(line))]
    if not found:
        last = failure.strip().splitlines()[-1].strip() if failure.strip() else ""
        return f"the job failed: {last[:300]}" if last else STALE_RUN_MESSAGE
    exc_type, detail = found[-1][1], found[-1][2].strip()
    if exc_type.rpartition(".")[2] in _DB_ERRORS:
        return database_lost_message(RuntimeError(detail or exc_type))
    if exc_type.endswith("JobTimeoutException"):
        return f"the run exceeded the job timeout ({detail or exc_type})"
    return f"the job failed: {exc_type.rpartition('.')[2]}: {detail}"[:400]


def _running_verdict(run: CollectionRun, now: datetime) -> str | None:
    """Why a running run will never finish, or None while it may."""
    state = local_process_state(run.worker, run.worker_started)
    if state is ProcessState.ALIVE:
        return None
    job = collection_job_state(run.job_id) if run.job_id else None
    if job is not None and job.ended:
        return job_failure_message(job.failure)
    if state is ProcessState.DEAD:
        return STALE_RUN_MESSAGE if run.job_id else FOREGROUND_STOPPED_MESSAGE
    if run.started_at and run.started_at < now - _job_timeout() - timedelta(seconds=60):
        return STALE_RUN_MESSAGE  # another host, no word from RQ: judged by the job timeout
    return None


def _queued_verdict(run: CollectionRun, now: datetime) -> str | None:
    """Why a queued run will never be started as things stand, or None."""
    if run.worker:  # owned by a process: a foreground collect, or the in-process queue
        state = local_process_state(run.worker, run.worker_started)
        if state is ProcessState.DEAD:
            return "the process that was to run it stopped before it started"
        if run.enqueued_at and run.enqueued_at < now - START_GRACE:
            # The in-process queue runs a job as soon as its transaction commits: one still
            # queued this long after failed before it could claim the run (SQLite locked).
            return "its in-process job failed before it started"
        if state is ProcessState.UNKNOWN and run.queued_at < now - _job_timeout():
            return "the process that was to run it gave no sign of life"
        return None
    if run.enqueued_at is None:
        return None  # a retry waiting for its due time: the tick dispatches it
    if run.enqueued_at > now - PUSH_GRACE:
        return None
    job: JobState | None = collection_job_state(run.job_id)
    if job is None:
        return None  # Redis cannot be asked now: nothing to conclude
    if job.missing:
        return f"{LOST_JOB_MESSAGE}: the job is gone from Redis"
    if job.ended:
        return f"{LOST_JOB_MESSAGE}: {_early_failure(job.failure)}"
    if job.status == "started" and (job.started_at or run.enqueued_at) < now - START_GRACE:
        return f"{LOST_JOB_MESSAGE}: its worker stopped"
    if job.status == "queued" and not job.in_queue:
        return f"{LOST_JOB_MESSAGE}: a worker took it off the queue and stopped"
    return None


def _early_failure(failure: str) -> str:
    # The job failed before its run started: say why in the words of a queued run.
    message = job_failure_message(failure)
    if message.startswith(STALE_RUN_MESSAGE):
        return "its work horse was killed" + message[len(STALE_RUN_MESSAGE) :].replace(
            " (killed by", " (by"
        )
    if message.startswith(DATABASE_LOST_MESSAGE):
        return "the database was unreachable" + message[len(DATABASE_LOST_MESSAGE) :]
    return message


def collection_runs_sweep(
    *, connection: Connection | None = None, hand_over: bool = True, now: datetime | None = None
) -> int:
    """Fail dead runs and recover lost jobs (see the module docstring); returns how many.

    ``hand_over=False`` (before a user's own run) hands nothing to the queue: a dead run's
    retry is created due now and a lost run is released, both left for the caller to start.
    """
    now = now or timezone.now()
    runs = CollectionRun.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.QUEUED])
    if connection is not None:
        runs = runs.filter(connection=connection)
    count = 0
    for run in runs.order_by("pk"):
        if run.status == RunStatus.RUNNING:
            message = _running_verdict(run, now)
            if message and collection_run_fail_abandoned(
                run_id=run.pk, message=message, job_id=run.job_id, worker=run.worker
            ):
                count += 1
                run.refresh_from_db()
                collection_run_followup(run=run, due_now=not hand_over)
            continue
        reason = _queued_verdict(run, now)
        if not reason:
            continue
        expect = {"job_id": run.job_id, "worker": run.worker, "requeues": run.requeues}
        if run.requeues < MAX_REQUEUES:
            if hand_over:
                recovered = collection_run_dispatch(run=run, requeue=True, expect=expect)
            else:
                recovered = collection_run_release(run=run, expect=expect)
            if recovered:
                logger.warning("run %s: %s; handed over again", run.pk, reason)
                count += 1
            continue
        reason += f" ({run.requeues + 1} times)"
        if collection_run_fail_abandoned(
            run_id=run.pk, message=reason, status=RunStatus.QUEUED, **expect
        ):
            count += 1
            run.refresh_from_db()
            collection_run_followup(run=run, due_now=not hand_over)
    return count
