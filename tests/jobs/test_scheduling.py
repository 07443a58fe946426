"""The scheduler's decisions and the in-process job path (embedded default)."""

from __future__ import annotations

import io
import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem, RunStatus
from pixaudit.evidence.services import FOREGROUND_STOPPED_MESSAGE, connection_create
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    collection_run_create,
    collection_run_retry,
)
from pixaudit.evidence.services.scheduling import (
    collection_retries_dispatch_due,
    collection_run_enqueue,
    collection_run_followup,
    collection_runs_sweep,
    collections_enqueue_due,
    connections_due,
    retry_backoff,
)
from pixaudit.evidence.services.sweep import job_failure_message
from pixaudit.lib.processes import process_identity

pytestmark = pytest.mark.django_db


def _demo(name="demo", **params) -> Connection:
    return connection_create(name=name, collector_key="demo_inventory", params=params)


@pytest.mark.smoke
def test_due_connection_is_collected_and_scheduled_after_its_max_age(
    django_capture_on_commit_callbacks,
):
    conn = _demo()
    with django_capture_on_commit_callbacks(execute=True):
        runs = collections_enqueue_due()
    assert [r.connection_id for r in runs] == [conn.pk]
    run = CollectionRun.objects.get(pk=runs[0].pk)
    assert run.status == RunStatus.SUCCEEDED
    assert EvidenceItem.objects.filter(run=run).count() == 1
    conn.refresh_from_db()
    # demo_inventory's max_age is one day: not due again before then.
    assert conn.next_run_at > timezone.now() + timedelta(hours=23)
    assert list(connections_due()) == []


def test_disabled_and_future_connections_are_not_due():
    _demo("off").__class__.objects.filter(name="off").update(enabled=False)
    later = _demo("later")
    Connection.objects.filter(pk=later.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    assert list(connections_due()) == []


def test_a_connection_with_an_active_run_is_not_enqueued_twice():
    conn = _demo()
    collection_run_create(connection=conn, trigger="manual")
    assert list(connections_due()) == []
    with pytest.raises(CollectionRunActive):
        collection_run_enqueue(connection=conn, trigger="manual")


def test_transient_failure_is_retried_until_attempts_run_out(django_capture_on_commit_callbacks):
    conn = _demo(simulate_error="transient")
    with django_capture_on_commit_callbacks(execute=True):
        collection_run_enqueue(connection=conn, trigger="manual")
    runs = list(CollectionRun.objects.filter(connection=conn).order_by("attempt"))
    assert [(r.attempt, r.status) for r in runs] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.FAILED),
        (3, RunStatus.FAILED),
    ]
    assert all("simulated transient failure" in r.error_message for r in runs)
    assert not EvidenceItem.objects.filter(connection=conn).exists()


def test_permanent_failure_is_not_retried(django_capture_on_commit_callbacks):
    conn = _demo(simulate_error="permanent")
    with django_capture_on_commit_callbacks(execute=True):
        collection_run_enqueue(connection=conn, trigger="manual")
    run = CollectionRun.objects.get(connection=conn)
    assert (run.status, run.error_permanent, run.attempt) == (RunStatus.FAILED, True, 1)


def test_sweep_fails_a_run_whose_local_worker_is_gone_and_retries_it(
    django_capture_on_commit_callbacks,
):
    import socket

    conn = _demo()
    run = collection_run_create(connection=conn, trigger="schedule")
    # A pid that cannot exist on Linux (above pid_max's hard limit).
    CollectionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), job_id="pixaudit-run-x",
        worker=f"{socket.gethostname()}:4194305",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert collection_runs_sweep() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error_message == "worker stopped during the run"
    retry = CollectionRun.objects.get(connection=conn, attempt=2)
    assert retry.status == RunStatus.SUCCEEDED


def test_sweep_leaves_runs_of_live_workers_alone():
    import os
    import socket

    conn = _demo()
    run = collection_run_create(connection=conn, trigger="schedule")
    CollectionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), job_id="pixaudit-run-y",
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )  # fmt: skip
    assert collection_runs_sweep() == 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_sweep_leaves_a_long_run_of_a_live_local_process_alone():
    # e.g. `manage.py collect --connection` in the foreground (no RQ job timeout applies):
    # failing it would let a retry run the same connection at the same time.
    import os
    import socket

    conn = _demo()
    run = collection_run_create(connection=conn, trigger="cli")
    CollectionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(hours=3),
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )  # fmt: skip
    assert collection_runs_sweep() == 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert CollectionRun.objects.filter(connection=conn).count() == 1


# --- Issue 13: dead foreground runs, lost jobs, retries due on the run row -----------------


def _dead_process() -> tuple[str, str]:
    """The identity (``host:pid``, start token) of a process that existed and was killed."""
    import signal
    import subprocess

    from pixaudit.lib.processes import process_start_token

    proc = subprocess.Popen(["sleep", "60"])
    identity = (f"{socket.gethostname()}:{proc.pid}", process_start_token(proc.pid))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return identity


def _running_foreground(conn: Connection, worker: str, started: str) -> CollectionRun:
    run = collection_run_create(connection=conn, trigger="cli")
    CollectionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), worker=worker, worker_started=started
    )
    return run


def test_sweep_fails_a_foreground_run_whose_pid_now_belongs_to_another_process():
    # The recorded pid is alive (it is this very process) but it started at another time:
    # the kernel reused the number; the run's owner is gone.
    conn = _demo()
    worker, _ = process_identity()
    run = _running_foreground(conn, worker, "another-boot/12345")
    assert collection_runs_sweep(hand_over=False) == 1
    run.refresh_from_db()
    assert (run.status, run.error_message) == (RunStatus.FAILED, FOREGROUND_STOPPED_MESSAGE)


def test_sweep_leaves_a_foreground_run_of_the_same_live_process_alone():
    conn = _demo()
    run = _running_foreground(conn, *process_identity())
    assert collection_runs_sweep() == 0
    assert CollectionRun.objects.get(pk=run.pk).status == RunStatus.RUNNING


@pytest.mark.smoke
def test_collect_is_not_refused_after_a_foreground_collect_was_killed():
    # The embedded default has no scheduler tick: `collect` sweeps before it decides.
    conn = _demo("killed-fg")
    killed = _running_foreground(conn, *_dead_process())
    call_command("collect", "--connection", "killed-fg", stdout=io.StringIO())
    killed.refresh_from_db()
    assert (killed.status, killed.error_message) == (RunStatus.FAILED, FOREGROUND_STOPPED_MESSAGE)
    # Its retry, due at once, is the run this `collect` executed.
    new = CollectionRun.objects.exclude(pk=killed.pk).get(connection=conn)
    assert (new.status, new.retry_of_id, new.attempt) == (RunStatus.SUCCEEDED, killed.pk, 2)
    assert not EvidenceItem.objects.filter(run=killed).exists()


def test_collect_still_refuses_while_a_live_run_is_active():
    conn = _demo("busy")
    _running_foreground(conn, *process_identity())
    with pytest.raises(CommandError, match="already running"):
        call_command("collect", "--connection", "busy", stdout=io.StringIO())


def test_run_now_sweeps_a_dead_run_first(django_capture_on_commit_callbacks):
    from pixaudit.dashboard.services import connection_run_now

    conn = _demo("dead-then-run-now")
    killed = _running_foreground(conn, *_dead_process())
    with django_capture_on_commit_callbacks(execute=True):
        run = connection_run_now(connection=conn)
    assert run.retry_of_id == killed.pk
    assert CollectionRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert CollectionRun.objects.get(pk=killed.pk).status == RunStatus.FAILED


def _failed_with_pending_retry(conn: Connection, *, due_in: timedelta) -> tuple:
    first = collection_run_create(connection=conn, trigger="schedule")
    CollectionRun.objects.filter(pk=first.pk).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error_message="flaky"
    )
    retry = collection_run_retry(run_id=first.pk, retry_at=timezone.now() + due_in)
    return first, retry


def test_a_retry_is_dispatched_by_the_tick_once_due_and_not_before(
    django_capture_on_commit_callbacks,
):
    conn = _demo("retry-due")
    _, retry = _failed_with_pending_retry(conn, due_in=timedelta(seconds=30))
    assert collection_retries_dispatch_due() == []
    with django_capture_on_commit_callbacks(execute=True):
        dispatched = collection_retries_dispatch_due(now=timezone.now() + timedelta(seconds=31))
    assert [r.pk for r in dispatched] == [retry.pk]
    assert CollectionRun.objects.get(pk=retry.pk).status == RunStatus.SUCCEEDED
    # Dispatched once: the next tick finds nothing to hand over.
    assert collection_retries_dispatch_due(now=timezone.now() + timedelta(minutes=5)) == []


def test_a_run_gets_one_retry_only():
    conn = _demo("one-retry")
    first, retry = _failed_with_pending_retry(conn, due_in=timedelta(seconds=30))
    with pytest.raises(CollectionRunActive):
        collection_run_retry(run_id=first.pk)
    first.refresh_from_db()
    assert collection_run_followup(run=first).pk == retry.pk  # idempotent
    assert CollectionRun.objects.filter(retry_of=first).count() == 1


def test_collect_takes_over_a_retry_waiting_for_its_due_time():
    conn = _demo("take-over")
    _, retry = _failed_with_pending_retry(conn, due_in=timedelta(minutes=2))
    call_command("collect", "--connection", "take-over", stdout=io.StringIO())
    assert CollectionRun.objects.get(pk=retry.pk).status == RunStatus.SUCCEEDED
    assert CollectionRun.objects.filter(connection=conn).count() == 2


def test_run_now_starts_a_waiting_retry_now(django_capture_on_commit_callbacks):
    from pixaudit.dashboard.services import connection_run_now

    conn = _demo("retry-now")
    _, retry = _failed_with_pending_retry(conn, due_in=timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        run = connection_run_now(connection=conn)
    assert run.pk == retry.pk
    assert CollectionRun.objects.get(pk=retry.pk).status == RunStatus.SUCCEEDED


def test_the_run_page_says_when_the_next_attempt_is_due(client, django_user_model):
    conn = _demo("page")
    first, retry = _failed_with_pending_retry(conn, due_in=timedelta(minutes=2))
    client.force_login(django_user_model.objects.create_user(username="eng", password="x-x-x-x1"))
    page = client.get(reverse("dashboard:run_detail", args=[first.pk])).content.decode()
    due = retry.retry_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "Next attempt" in page and f"run #{retry.pk}" in page and due in page
    page = client.get(reverse("dashboard:run_detail", args=[retry.pk])).content.decode()
    assert f"run #{first.pk}" in page and due in page
    status = client.get(reverse("dashboard:run_status", args=[retry.pk])).json()
    assert status["retry_at"] == retry.retry_at.isoformat()


def test_a_lost_in_process_run_of_a_dead_process_is_run_by_the_next_tick(
    django_capture_on_commit_callbacks,
):
    conn = _demo("lost-in-process")
    run = collection_run_create(connection=conn, trigger="manual")
    worker, started = _dead_process()
    CollectionRun.objects.filter(pk=run.pk).update(
        job_id=f"pixaudit-run-{run.pk}", enqueued_at=timezone.now() - timedelta(minutes=1),
        worker=worker, worker_started=started,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        collections_enqueue_due()
    run.refresh_from_db()
    assert (run.status, run.requeues) == (RunStatus.SUCCEEDED, 1)


def test_retry_backoff_follows_the_setting(settings):
    settings.PIXAUDIT_RETRY_BACKOFF_SECONDS = [30, 120]
    assert [retry_backoff(a).total_seconds() for a in (1, 2, 3)] == [30, 120, 120]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (
            "Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); ",
            "worker stopped during the run (killed by signal 9)",
        ),
        (
            'Traceback (most recent call last):\n  File "x.py", line 1\n'
            "django.db.utils.OperationalError: consuming input failed: server closed the "
            "connection unexpectedly\n\tThis probably means the server terminated abnormally\n"
            "\tbefore or while processing the request.\n",
            "database unreachable during the run (consuming input failed: server closed the "
            "connection unexpectedly)",
        ),
        (
            "Traceback (most recent call last):\nValueError: bad thing\n",
            "the job failed: ValueError: bad thing",
        ),
        ("", "worker stopped during the run"),
    ],
)
def test_job_failure_messages_say_what_happened(failure, message):
    assert job_failure_message(failure) == message


def test_an_in_process_job_that_failed_before_its_claim_does_not_block_the_connection(
    django_capture_on_commit_callbacks,
):
    # Its owner (this process) is alive, but the job ran at commit and never claimed it.
    conn = _demo("in-process-failed")
    run = collection_run_create(connection=conn, trigger="manual")
    worker, started = process_identity()
    CollectionRun.objects.filter(pk=run.pk).update(
        job_id=f"pixaudit-run-{run.pk}", enqueued_at=timezone.now() - timedelta(minutes=1),
        worker=worker, worker_started=started,
    )  # fmt: skip
    from pixaudit.dashboard.services import connection_run_now

    with django_capture_on_commit_callbacks(execute=True):
        again = connection_run_now(connection=conn)
    assert again.pk == run.pk
    assert CollectionRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
