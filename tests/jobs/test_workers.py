"""Real RQ workers (subprocesses) against the real Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal

import pytest
from django.core.management import call_command

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import CollectionRun, EvidenceItem, Finding, RunStatus
from pixaudit.evidence.services import connection_create
from pixaudit.evidence.services.scheduling import collection_run_enqueue, collections_enqueue_due
from tests.jobs.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _status(run_id: int) -> str:
    return CollectionRun.objects.get(pk=run_id).status


def test_worker_killed_mid_run_leaves_no_partial_evidence_and_the_run_is_retried(
    async_collect_queue, start_worker, monkeypatch, settings
):
    conn = connection_create(
        name="slow", collector_key="demo_inventory", params={"simulate_delay": 1.0}
    )
    run = collection_run_enqueue(connection=conn, trigger="manual")
    worker = start_worker()
    wait_for(lambda: _status(run.pk) == RunStatus.RUNNING, what="the worker to start the run")

    # kill -9 the process doing the work (RQ's work horse, in a process group of its own) and
    # the worker that forked it: as an OOM kill or a lost machine would.
    horse_pid = int(CollectionRun.objects.get(pk=run.pk).worker.rpartition(":")[2])
    os.kill(horse_pid, signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    wait_for(lambda: not _pid_alive(horse_pid), timeout=10, what="the work horse to be gone")
    assert _status(run.pk) == RunStatus.RUNNING  # nobody was left to say otherwise
    assert not EvidenceItem.objects.filter(run_id=run.pk).exists()

    # The scheduler's sweep notices the dead worker; the retry runs on the embedded path.
    monkeypatch.setitem(settings.RQ_QUEUES["collect"], "ASYNC", False)
    from pixaudit.evidence.models import Connection

    Connection.objects.filter(pk=conn.pk).update(params={"simulate_delay": 0.0})
    collections_enqueue_due()
    killed = CollectionRun.objects.get(pk=run.pk)
    assert killed.status == RunStatus.FAILED
    assert killed.error_message == "worker stopped during the run"
    assert not EvidenceItem.objects.filter(run_id=run.pk).exists()
    assert not Finding.objects.filter(run_id=run.pk).exists()
    retry = CollectionRun.objects.get(connection=conn, attempt=2)
    assert retry.status == RunStatus.SUCCEEDED
    assert verify_chain().ok


def test_two_workers_finishing_runs_at_once_keep_one_unbroken_chain(
    async_collect_queue, start_worker
):
    runs = []
    for i in range(8):
        conn = connection_create(
            name=f"parallel-{i}", collector_key="demo_inventory", params={"simulate_delay": 0.05}
        )
        runs.append(collection_run_enqueue(connection=conn, trigger="manual"))
    start_worker("--burst")
    start_worker("--burst")
    wait_for(
        lambda: all(_status(r.pk) == RunStatus.SUCCEEDED for r in runs),
        timeout=120,
        what="both workers to finish every run",
    )
    workers = set(CollectionRun.objects.filter(pk__in=[r.pk for r in runs]).values_list(
        "worker", flat=True))  # fmt: skip
    assert len(workers) >= 2, "both workers should have taken runs"
    seqs = sorted(EvidenceItem.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, len(runs) + 1))
    assert verify_chain().ok


def test_cron_config_registers_the_periodic_job():
    import django_rq
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("pixaudit/cron.py")
    jobs = scheduler.get_jobs()
    by_name = {j.func_name: j for j in jobs}
    assert set(by_name) == {
        "pixaudit.evidence.jobs.collections_enqueue_due",
        "pixaudit.evidence.jobs_integrity.evidence_integrity_job",
        "pixaudit.posture.jobs.readiness_snapshots_job",
        "pixaudit.reviews.jobs.reviews_daily_job",
        "pixaudit.exceptions.jobs.exceptions_daily_job",
        "pixaudit.tasks.jobs.work_tick_job",
        "pixaudit.tasks.jobs.tasks_daily_job",
        "pixaudit.notifications.jobs.notifications_digest_job",
        "pixaudit.people.jobs.people_daily_job",
        "pixaudit.awsorg.jobs.aws_integrations_enqueue_due",
        "pixaudit.vendors.jobs.vendors_daily_job",
        "pixaudit.privacy.jobs.privacy_daily_job",
        "pixaudit.changes.jobs.change_tickets_job",
        "pixaudit.reports.jobs.pack_builds_sweep_job",
    }
    assert by_name["pixaudit.evidence.jobs.collections_enqueue_due"].interval == 15
    assert by_name["pixaudit.tasks.jobs.work_tick_job"].interval == 30
    assert by_name["pixaudit.awsorg.jobs.aws_integrations_enqueue_due"].interval == 60
    assert by_name["pixaudit.posture.jobs.readiness_snapshots_job"].cron == "5 0 * * *"
    assert by_name["pixaudit.evidence.jobs_integrity.evidence_integrity_job"].interval == 300
    assert by_name["pixaudit.exceptions.jobs.exceptions_daily_job"].cron == "15 0 * * *"
    assert by_name["pixaudit.vendors.jobs.vendors_daily_job"].cron == "40 7 * * *"
    assert by_name["pixaudit.privacy.jobs.privacy_daily_job"].cron == "20 0 * * *"
    assert by_name["pixaudit.changes.jobs.change_tickets_job"].cron == "25 0 * * *"
    assert by_name["pixaudit.reports.jobs.pack_builds_sweep_job"].cron == "40 0 * * *"


def test_verify_evidence_command_reports_ok_after_worker_runs(async_collect_queue, start_worker,
                                                              capsys):  # fmt: skip
    conn = connection_create(name="once", collector_key="demo_inventory", params={})
    run = collection_run_enqueue(connection=conn, trigger="manual")
    start_worker("--burst")
    wait_for(lambda: _status(run.pk) == RunStatus.SUCCEEDED, what="the run to succeed")
    call_command("verify_evidence")
    assert "OK" in capsys.readouterr().out
