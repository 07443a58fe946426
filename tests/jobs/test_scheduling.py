"""The scheduler's decisions and the in-process job path (embedded default)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem, RunStatus
from pixaudit.evidence.services import connection_create
from pixaudit.evidence.services.runs import CollectionRunActive, collection_run_create
from pixaudit.evidence.services.scheduling import (
    collection_run_enqueue,
    collection_runs_sweep,
    collections_enqueue_due,
    connections_due,
)

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
