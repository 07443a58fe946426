"""django-rq jobs of the AWS integration app: ids in, one service call (queue ``collect``)."""

from __future__ import annotations

from rq import get_current_job

from pixaudit.awsorg.services.runs import aws_account_run_execute as account_execute
from pixaudit.awsorg.services.runs import aws_integration_run_discover as run_discover
from pixaudit.awsorg.services.runs import aws_integrations_enqueue_due as enqueue_due


def aws_integration_run_discover(run_id: int) -> str:
    """List the integration's accounts and hand one job per account to the queue."""
    return run_discover(run_id=run_id).status


def aws_account_run_execute(account_run_id: int) -> str:
    """Run every enabled collector in one account."""
    job = get_current_job()
    return account_execute(
        account_run_id=account_run_id,
        job_id=job.id if job else "",
        worker_name=(getattr(job, "worker_name", None) or "") if job else "",
    ).status


def aws_integrations_enqueue_due() -> int:
    """The scheduler's tick for integrations: start every one that is due."""
    return len(enqueue_due())
