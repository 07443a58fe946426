"""django-rq jobs of the evidence app: ids in, one service call, nothing else.

Jobs import services, never the reverse: services enqueue these jobs by their dotted path
(``services/queueing.py``), never by importing this module.
"""

from __future__ import annotations

from rq import get_current_job

from pixaudit.evidence.services.retries import (
    collection_retry_dispatch_when_due,
    collection_run_followup,
)
from pixaudit.evidence.services.runs import collection_run_execute as run_execute
from pixaudit.evidence.services.scheduling import collections_enqueue_due as enqueue_due


def collection_run_execute(run_id: int) -> str:
    """Execute one collection run, then create its retry if it failed transiently.

    The follow-up is idempotent (one retry per run), so it is harmless when the sweep
    already failed and retried the run this job found no longer its own.
    """
    job = get_current_job()
    run = run_execute(run_id=run_id, job_id=job.id if job else "")
    collection_run_followup(run=run)
    return run.status


def collections_enqueue_due() -> int:
    """The periodic tick: sweep dead runs and lost jobs, dispatch due retries and connections."""
    return len(enqueue_due())


def collection_retry_dispatch(run_id: int) -> bool:
    """Hand one retry to the workers at its due time (scheduled with the embedded worker)."""
    return collection_retry_dispatch_when_due(run_id=run_id)
