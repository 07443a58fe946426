"""Fault injection on the job layer (issue 13, items 1-4): real workers, real Redis and
PostgreSQL servers that the test stops, restarts or kills.

Each test reproduces a fault the independent fault-injection run found, then checks that
the system recovers by itself: a lost job blocks nothing, a retry keeps its time, a killed
foreground run is swept, and a run failed by a database outage says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rq import Queue
from rq.job import Job

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem, RunStatus
from pixaudit.evidence.services import (
    DATABASE_LOST_MESSAGE,
    FOREGROUND_STOPPED_MESSAGE,
    STALE_RUN_MESSAGE,
    connection_create,
)
from pixaudit.evidence.services.queueing import collect_queue, collection_job_state
from pixaudit.evidence.services.scheduling import (
    collection_run_enqueue,
    collection_run_start,
    collections_enqueue_due,
)
from pixaudit.evidence.services.sweep import PUSH_GRACE

from .conftest import ROOT, children, shared_database_url, wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.postgres, pytest.mark.redis]

#: Seconds between scheduler ticks in these tests (pixaudit/cron.py uses 30).
TICK = 1.0
#: The settings the tests' workers run with: production's, on this test's files.
PROD = {"DJANGO_SETTINGS_MODULE": "pixaudit.settings", "PIXAUDIT_ENV": "test"}


def _demo(name: str, **params) -> Connection:
    return connection_create(name=name, collector_key="demo_inventory", params=params)


def _run(pk: int) -> CollectionRun:
    return CollectionRun.objects.get(pk=pk)


def _tick(*, later: timedelta = timedelta(0)) -> None:
    """One scheduler tick, as the periodic job runs it (``later``: that much time from now)."""
    collections_enqueue_due(now=timezone.now() + later)


def _job_status(job_id: str) -> str | None:
    state = collection_job_state(job_id)
    return None if state is None or state.missing else state.status


# --- 1. A lost job blocks its connection forever -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_whose_job_redis_lost_is_handed_over_again_within_one_tick(
    private_redis, workers
):
    conn = _demo("lost in redis")
    run = collection_run_enqueue(connection=conn, trigger="manual")
    first_job = _run(run.pk).job_id
    assert _job_status(first_job) == "queued"
    private_redis.restart()  # no persistence: the job is gone, the run still says queued
    assert collection_job_state(first_job).missing

    _tick(later=PUSH_GRACE + timedelta(seconds=1))
    requeued = _run(run.pk)
    assert (requeued.status, requeued.requeues) == (RunStatus.QUEUED, 1)
    assert requeued.job_id != first_job and _job_status(requeued.job_id) == "queued"

    workers.start(redis_url=private_redis.url, env=PROD)
    wait_for(lambda: _run(run.pk).status == RunStatus.SUCCEEDED, what="the re-queued run")
    assert CollectionRun.objects.filter(connection=conn).count() == 1
    assert EvidenceItem.objects.filter(run_id=run.pk).count() == 1
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_run_now_after_redis_lost_the_job_hands_the_run_over_again_not_already_running(
    private_redis,
):
    conn = _demo("run now after loss")
    lost = collection_run_enqueue(connection=conn, trigger="schedule")
    first_job = _run(lost.pk).job_id
    private_redis.restart()
    CollectionRun.objects.filter(pk=lost.pk).update(
        enqueued_at=timezone.now() - PUSH_GRACE - timedelta(seconds=1)
    )
    run = collection_run_start(connection=conn, trigger="manual")
    assert run.pk == lost.pk  # the run that never started is the one started now
    run.refresh_from_db()
    assert (run.status, run.requeues) == (RunStatus.QUEUED, 1)
    assert run.job_id != first_job and _job_status(run.job_id) == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_work_horse_killed_before_it_claimed_its_run_does_not_block_the_connection(
    private_redis, workers
):
    conn = _demo("horse killed early")
    run = collection_run_enqueue(connection=conn, trigger="manual")
    job_id = _run(run.pk).job_id
    worker = None
    with transaction.atomic():
        # Hold the run's row: the work horse's claim (an UPDATE) waits behind this lock.
        CollectionRun.objects.select_for_update().get(pk=run.pk)
        worker = workers.start(redis_url=private_redis.url, env=PROD)
        with connection.cursor() as cursor:

            def claim_waiting():
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # one snapshot per transaction
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
                return cursor.fetchone()

            backend = wait_for(claim_waiting, what="the work horse's claim to wait")[0]
            (horse,) = wait_for(lambda: children(worker.pid), what="the work horse")
            os.kill(horse, signal.SIGKILL)
            # Its server session dies with it, before the UPDATE could ever run.
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    wait_for(lambda: _job_status(job_id) == "failed", what="RQ to notice the dead horse")
    assert _run(run.pk).status == RunStatus.QUEUED  # nobody will ever claim it

    _tick(later=PUSH_GRACE + timedelta(seconds=1))
    wait_for(lambda: _run(run.pk).status == RunStatus.SUCCEEDED, what="the re-queued run")
    assert _run(run.pk).requeues == 1
    assert EvidenceItem.objects.filter(run_id=run.pk).count() == 1
    assert verify_chain().ok


def test_a_queued_job_that_started_while_postgresql_was_down_runs_once_it_is_back(
    private_postgres, private_redis, workers
):
    conn = _demo("postgres down at start")
    run = collection_run_enqueue(connection=conn, trigger="manual")
    job_id = _run(run.pk).job_id
    connection.close()
    private_postgres.stop()
    workers.start(redis_url=private_redis.url, database_url=private_postgres.url, env=PROD)
    wait_for(lambda: _job_status(job_id) == "failed", what="the job to fail on the database")
    private_postgres.start()
    assert _run(run.pk).status == RunStatus.QUEUED

    _tick(later=PUSH_GRACE + timedelta(seconds=1))
    wait_for(lambda: _run(run.pk).status == RunStatus.SUCCEEDED, what="the re-queued run")
    assert EvidenceItem.objects.filter(run_id=run.pk).count() == 1


# --- 2. Retries keep their time whatever worker or Redis dies -------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_retry_runs_on_time_after_its_worker_is_killed_and_redis_restarts(
    private_redis, workers, settings
):
    backoff = 4
    settings.PIXAUDIT_RETRY_BACKOFF_SECONDS = [backoff]
    env = {**PROD, "PIXAUDIT_RETRY_BACKOFF_SECONDS": str(backoff)}
    conn = _demo("flaky", simulate_error="transient")
    first = collection_run_enqueue(connection=conn, trigger="manual")
    worker = workers.start(redis_url=private_redis.url, env=env)
    retry = wait_for(
        lambda: CollectionRun.objects.filter(retry_of_id=first.pk).first(),
        what="attempt 1 to fail and schedule attempt 2",
    )
    first.refresh_from_db()
    assert retry.attempt == 2 and retry.status == RunStatus.QUEUED
    assert retry.retry_at == first.finished_at + timedelta(seconds=backoff)

    # The worker that ran attempt 1 dies, and Redis loses everything it held.
    workers.kill(worker)
    private_redis.restart()
    workers.start(redis_url=private_redis.url, env=env)
    deadline = time.monotonic() + backoff + 30
    while _run(retry.pk).started_at is None and time.monotonic() < deadline:
        _tick()  # the scheduler's tick
        time.sleep(TICK)
    retry.refresh_from_db()
    assert retry.started_at is not None, "attempt 2 never started"
    lateness = (retry.started_at - retry.retry_at).total_seconds()
    assert 0 <= lateness <= TICK + 5, f"attempt 2 started {lateness:.1f}s after it was due"
    wait_for(lambda: _run(retry.pk).status == RunStatus.FAILED, what="attempt 2 to finish")
    assert CollectionRun.objects.get(retry_of_id=retry.pk).attempt == 3


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_keeps_ticking_through_a_redis_outage(private_redis, tmp_path):
    config = tmp_path / "cron_fast.py"
    config.write_text(
        "from rq import cron\n"
        "from pixaudit.evidence.jobs import collections_enqueue_due\n"
        "cron.register(collections_enqueue_due, queue_name='default', interval=1)\n"
    )
    scheduler = subprocess.Popen(
        [sys.executable, "manage.py", "scheduler", str(config)],
        cwd=ROOT,
        env={**os.environ, **PROD, "REDIS_URL": private_redis.url,
             "DATABASE_URL": shared_database_url()},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        queue = lambda: Queue("default", connection=collect_queue().connection)  # noqa: E731
        wait_for(lambda: queue().count >= 1, what="the first tick")
        private_redis.stop()
        time.sleep(3)  # three ticks fall into the outage
        assert scheduler.poll() is None, "the scheduler exited when Redis went away"
        private_redis.start()
        wait_for(lambda: queue().count >= 2, timeout=40, what="ticks after Redis came back")
        assert scheduler.poll() is None
    finally:
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(timeout=10)


# --- 3. A foreground run killed with kill -9 ------------------------------------------------


def _start_foreground_collect(name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "collect", "--connection", name],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
             "DATABASE_URL": shared_database_url(), "PIXAUDIT_VAR_DIR": _var_dir()},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _var_dir() -> str:
    from django.conf import settings

    return str(settings.VAR_DIR)


def _kill_foreground_mid_run(conn: Connection) -> CollectionRun:
    proc = _start_foreground_collect(conn.name)
    run = wait_for(
        lambda: CollectionRun.objects.filter(connection=conn, status=RunStatus.RUNNING).first(),
        what="the foreground run to start",
    )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return run


@pytest.mark.django_db(transaction=True)
def test_collect_after_a_foreground_run_was_killed_is_not_refused(needs_postgres):
    conn = _demo("foreground", simulate_delay=2.0)
    killed = _kill_foreground_mid_run(conn)
    Connection.objects.filter(pk=conn.pk).update(params={"simulate_delay": 0.0})

    call_command("collect", "--connection", conn.name)  # no "already running"
    killed.refresh_from_db()
    assert (killed.status, killed.error_message) == (RunStatus.FAILED, FOREGROUND_STOPPED_MESSAGE)
    new = CollectionRun.objects.filter(connection=conn).exclude(pk=killed.pk).get()
    assert (new.status, new.retry_of_id) == (RunStatus.SUCCEEDED, killed.pk)
    assert not EvidenceItem.objects.filter(run_id=killed.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_tick_sweeps_a_killed_foreground_run_at_once_not_after_the_job_timeout(
    needs_postgres,
):
    conn = _demo("foreground tick", simulate_delay=2.0)
    killed = _kill_foreground_mid_run(conn)
    _tick()
    killed.refresh_from_db()
    assert (killed.status, killed.error_message) == (RunStatus.FAILED, FOREGROUND_STOPPED_MESSAGE)
    assert CollectionRun.objects.filter(retry_of=killed).exists()


# --- 4. A run failed by a database outage says so -------------------------------------------


def _start_slow_run(private_postgres, private_redis, workers, name: str, **env):
    conn = _demo(name, simulate_delay=1.0)
    run = collection_run_enqueue(connection=conn, trigger="manual")
    workers.start(
        redis_url=private_redis.url, database_url=private_postgres.url,
        env={**PROD, "PIXAUDIT_RETRY_BACKOFF_SECONDS": "600", **env},
    )  # fmt: skip
    wait_for(lambda: _run(run.pk).status == RunStatus.RUNNING, what="the run to start")
    connection.close()
    return run


def test_a_run_whose_database_restarted_mid_run_is_failed_as_database_unreachable(
    private_postgres, private_redis, workers
):
    run = _start_slow_run(private_postgres, private_redis, workers, "db restart")
    private_postgres.stop("fast")
    private_postgres.start()
    failed = wait_for(
        lambda: (r := _run(run.pk)).status == RunStatus.FAILED and r, what="the run to fail"
    )
    assert failed.error_message.startswith(DATABASE_LOST_MESSAGE), failed.error_message
    assert STALE_RUN_MESSAGE not in failed.error_message
    assert not EvidenceItem.objects.filter(run_id=run.pk).exists()
    assert CollectionRun.objects.filter(retry_of_id=run.pk).exists()  # transient: retried


def test_a_run_whose_database_stayed_down_is_failed_as_database_unreachable_by_the_sweep(
    private_postgres, private_redis, workers
):
    run = _start_slow_run(
        private_postgres, private_redis, workers, "db down", PIXAUDIT_DB_RECONNECT_SECONDS="1"
    )
    job_id = _run(run.pk).job_id
    private_postgres.stop("immediate")
    wait_for(lambda: _job_status(job_id) == "failed", timeout=60, what="the job to give up")
    private_postgres.start()
    connection.close()  # this process's session died with the server too
    assert _run(run.pk).status == RunStatus.RUNNING  # nobody could record anything

    _tick()
    failed = _run(run.pk)
    assert failed.status == RunStatus.FAILED
    assert failed.error_message.startswith(DATABASE_LOST_MESSAGE), failed.error_message
    assert Job.fetch(job_id, connection=collect_queue().connection).get_status() == "failed"
