"""Two real RQ workers share one organisation run (moto server, Redis, PostgreSQL), with
per-region jobs: each account's job and its account x region jobs go to either worker."""

from __future__ import annotations

import pytest

from pixaudit.awsorg.models import AwsAccountRun, AwsIntegrationRun, RunState
from pixaudit.awsorg.services.config import aws_integration_create
from pixaudit.awsorg.services.runs import aws_integration_run_start
from pixaudit.demo.aws_org_sandbox import enforce_assume_role, seed_organisation
from pixaudit.demo.aws_sandbox import start_moto_server
from pixaudit.evidence.integrity import verify_chain
from tests.jobs.conftest import wait_for

from .conftest import FAST

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def test_two_real_workers_share_one_organisation_run(
    async_collect_queue, start_worker, monkeypatch, aws_env
):
    url, stop = start_moto_server()
    undo = None
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("PIXAUDIT_TEST_WORKER_ASYNC", "1")  # the listing job fans out
        box = seed_organisation(url, accounts=9, without_role=[1], suspended=[8])
        undo = enforce_assume_role()
        integration = aws_integration_create(
            name="Org", mode="organization", collectors=[*FAST, "aws_ebs_volumes"],
            params={"regions": ["eu-west-1", "us-east-1"]},
            secrets={"access_key_id": "testing", "secret_access_key": "testing"},
            member_external_id="pixaudit-external-id",
            account_rules={"exclude_ids": [box.management]},
        )  # fmt: skip
        run = aws_integration_run_start(integration=integration)
        start_worker()
        start_worker()
        wait_for(
            lambda: not AwsIntegrationRun.objects.get(pk=run.pk).active,
            timeout=240, what="the organisation run to finish",
        )  # fmt: skip
        run.refresh_from_db()
        assert run.status == RunState.PARTIAL, run.error_message
        assert [s["id"] for s in run.suspended] == [box.members[8]]
        jobs = {(a.account_id, a.region): a for a in AwsAccountRun.objects.filter(run=run)}
        regions = ("", "eu-west-1", "us-east-1")
        assert set(jobs) == {(m, r) for m in box.members[:8] for r in regions}
        assert jobs[(box.members[0], "eu-west-1")].collectors == ["aws_ebs_volumes"]
        failed = {k for k, a in jobs.items() if a.status == RunState.FAILED}
        assert failed == {(box.members[1], r) for r in regions}  # no role: all its jobs
        workers = {a.worker.split(" ")[0] for a in jobs.values()}
        assert len(workers) == 2, workers  # both workers took jobs
        assert run.status == RunState.PARTIAL and run.finished_at is not None
        assert all(a.peak_rss_kib > 0 for a in jobs.values())
        assert verify_chain().ok
    finally:
        if undo is not None:
            undo()
        stop()


def test_sweep_fails_an_account_whose_job_vanished_and_closes_the_run(async_collect_queue):
    from pixaudit.awsorg.models import AwsIntegration
    from pixaudit.awsorg.services.runs import LOST_ACCOUNT_MESSAGE, aws_account_runs_sweep

    integration = AwsIntegration.objects.create(name="Swept", mode="organization", collectors=FAST)
    run = AwsIntegrationRun.objects.create(integration=integration, status="running")
    lost = AwsAccountRun.objects.create(
        run=run, account_id="111111111111", status="running", job_id="pixaudit-awsacct-gone"
    )
    AwsAccountRun.objects.create(run=run, account_id="222222222222", status="succeeded")
    assert aws_account_runs_sweep() == 1
    lost.refresh_from_db()
    run.refresh_from_db()
    assert lost.status == RunState.FAILED and lost.message == LOST_ACCOUNT_MESSAGE
    assert run.status == RunState.PARTIAL and run.finished_at is not None
    assert aws_account_runs_sweep() == 0  # idempotent
