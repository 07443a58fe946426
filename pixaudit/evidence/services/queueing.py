"""Handing collection runs to the ``collect`` queue, and reading back what RQ knows of them.

PostgreSQL is the source of truth: a run is handed over ("dispatched") by recording the job
id and ``enqueued_at`` on its row in a transaction, and the job is pushed to Redis once that
transaction commits. If the push fails (Redis down) or Redis later loses the job, the row
still says the run is queued and the scheduler's sweep notices that its job is gone. The job
is named by its dotted path: services never import the jobs module (jobs import services).

With the embedded queue (no ``REDIS_URL``) the job runs in-process when the transaction
commits; the dispatching process is recorded as the run's owner instead of a Redis job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_rq
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from pixaudit.evidence.models import CollectionRun, RunStatus
from pixaudit.lib.embedded_worker import embedded_worker_running
from pixaudit.lib.processes import process_identity

logger = logging.getLogger("pixaudit.evidence.scheduling")

COLLECT_QUEUE = "collect"
#: The job every collection runs as (``pixaudit.evidence.jobs``), by name.
COLLECT_JOB = "pixaudit.evidence.jobs.collection_run_execute"


def collect_queue():
    return django_rq.get_queue(COLLECT_QUEUE)


def jobs_in_process() -> bool:
    """True with the embedded queue: jobs run in the enqueuing process, at commit, or in its
    background worker threads when it runs them (``pixaudit.lib.embedded_worker``)."""
    return embedded_worker_running() or not collect_queue().is_async


def collection_run_job_id(run: CollectionRun, *, requeue: int = 0) -> str:
    # A new id for every hand-over: a job thought lost that turns up after all can then
    # not claim the run (the claim compares ids).
    return f"pixaudit-run-{run.pk}" + (f"-r{requeue}" if requeue else "")


def collection_run_dispatch(
    *, run: CollectionRun, requeue: bool = False, expect: dict[str, Any] | None = None
) -> bool:
    """Hand a queued run to the ``collect`` queue; False if it was not (any longer) queued.

    ``expect`` are the fields the caller judged the run on (compare-and-set, so that two
    schedulers never hand the same run over twice); ``requeue`` counts a re-dispatch of a
    lost job. The push to Redis happens after commit; a Redis error there is logged and
    left to the sweep, never raised into the caller's request.
    """
    fields: dict[str, Any] = {"enqueued_at": timezone.now()}
    if jobs_in_process():
        fields["worker"], fields["worker_started"] = process_identity()
    else:
        fields["worker"], fields["worker_started"] = "", ""
    with transaction.atomic():
        # The job id carries the re-queue count, so every hand-over gets a new one.
        current = CollectionRun.objects.filter(pk=run.pk).values_list("requeues", flat=True)
        requeues = (current.first() or 0) + (1 if requeue else 0)
        fields["job_id"] = job_id = collection_run_job_id(run, requeue=requeues)
        fields["requeues"] = requeues
        updated = CollectionRun.objects.filter(
            pk=run.pk, status=RunStatus.QUEUED, **{"requeues": requeues - requeue, **(expect or {})}
        ).update(**fields)
        if not updated:
            return False
        transaction.on_commit(lambda: _push(run.pk, job_id))
    for name, value in fields.items():
        setattr(run, name, value)
    return True


def collection_run_release(*, run: CollectionRun, expect: dict[str, Any]) -> bool:
    """Take a queued run back from a lost job or a dead owner: it waits, due now, to be
    handed over again (by the tick, or at once by the caller). Counts as a re-queue."""
    released = CollectionRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED, **expect).update(
        job_id="", enqueued_at=None, worker="", worker_started="", requeues=run.requeues + 1
    )
    return bool(released)


def _push(run_id: int, job_id: str) -> None:
    queue = collect_queue()
    # django-rq's own enqueue would defer to on_commit again; this already runs after commit.
    enqueue = getattr(queue, "original_enqueue_call", queue.enqueue_call)
    try:
        enqueue(COLLECT_JOB, args=(run_id,), job_id=job_id)
    except RedisError as exc:
        logger.warning(
            "run %s: could not hand job %s to Redis (%s); the scheduler's sweep will retry",
            run_id, job_id, exc,
        )  # fmt: skip


@dataclass(frozen=True)
class JobState:
    """What RQ knows of a job: ``missing``, or its status and, once it ended, why."""

    missing: bool = False
    status: str = ""
    started_at: datetime | None = None
    in_queue: bool = False
    failure: str = ""

    @property
    def ended(self) -> bool:
        return self.status in (
            JobStatus.FAILED, JobStatus.FINISHED, JobStatus.STOPPED, JobStatus.CANCELED,
        )  # fmt: skip


def collection_job_state(job_id: str) -> JobState | None:
    """The RQ job's state, or None when Redis cannot be asked (down, or the embedded queue)."""
    if not job_id or jobs_in_process():
        return None
    queue = collect_queue()
    try:
        try:
            job = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            return JobState(missing=True)
        status = job.get_status(refresh=False) or ""
        failure = ""
        if status == JobStatus.FAILED:
            result = job.latest_result()
            failure = (result.exc_string if result else None) or job.exc_info or ""
        in_queue = False
        if status == JobStatus.QUEUED:
            in_queue = queue.connection.lpos(queue.key, job_id) is not None
        return JobState(
            status=str(getattr(status, "value", status)), started_at=job.started_at,
            in_queue=in_queue, failure=failure,
        )  # fmt: skip
    except RedisError as exc:
        logger.warning("cannot read job %s from Redis: %s", job_id, exc)
        return None
