"""django-rq jobs of the evidence app: ids in, one service call, nothing else.

Callers enqueue through the services in ``services/scheduling.py``, never directly.
"""

from __future__ import annotations

from rq import get_current_job


def collection_run_execute(run_id: int) -> str:
    """Execute one collection run, then queue its retry if it failed transiently."""
    from pixaudit.evidence.services.runs import STALE_RUN_MESSAGE
    from pixaudit.evidence.services.runs import collection_run_execute as execute
    from pixaudit.evidence.services.scheduling import collection_run_followup

    job = get_current_job()
    run = execute(run_id=run_id, job_id=job.id if job else "")
    if run.error_message != STALE_RUN_MESSAGE:  # the sweep that failed it queues its retry
        collection_run_followup(run=run)
    return run.status


def collections_enqueue_due() -> int:
    """The periodic job: sweep dead runs, enqueue every connection that is due."""
    from pixaudit.evidence.services.scheduling import collections_enqueue_due as enqueue_due

    return len(enqueue_due())
