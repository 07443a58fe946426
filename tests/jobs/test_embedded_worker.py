"""The embedded default's background worker: "Run now" returns at once, the page follows.

The worker threads run in this test process, as they do in ``runserver``: jobs go to the
queues (the in-process fakeredis, or this test's Redis database when REDIS_URL is set) and
the threads execute them with their own database connections.
"""

from __future__ import annotations

import socket
import time

import django_rq
import pytest
from django.conf import settings
from django.urls import reverse

from pixaudit.evidence.models import CollectionRun
from pixaudit.evidence.services import connection_create
from pixaudit.evidence.services.queueing import jobs_in_process
from pixaudit.lib import embedded_worker
from tests.jobs.conftest import skip_on_shared_memory_sqlite, wait_for


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def worker(transactional_db):
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


@pytest.fixture
def engineer(transactional_db, django_user_model):
    return django_user_model.objects.create_user(username="eng", password="unused-pass-123")


def _unreachable_github():
    return connection_create(
        name="GitHub (unreachable)",
        collector_key="github_org",
        params={
            "org": "acme",
            "token": "ghp-test-token-not-real",
            "base_url": f"http://127.0.0.1:{_closed_port()}",
        },
    )


def test_queues_stay_synchronous_without_the_worker(db):
    """Command-line tools and the test suite keep running jobs where they are enqueued."""
    assert not embedded_worker.embedded_worker_running()
    assert not django_rq.get_queue("collect").is_async
    assert jobs_in_process()


def test_the_web_entry_point_wants_the_worker_only_with_the_embedded_queue(settings):
    settings.JOBS_IN_PROCESS = True
    settings.PIXAUDIT_EMBEDDED_WORKER = True
    assert embedded_worker.embedded_worker_wanted()
    settings.PIXAUDIT_EMBEDDED_WORKER = False
    assert not embedded_worker.embedded_worker_wanted()
    settings.JOBS_IN_PROCESS = False
    settings.PIXAUDIT_EMBEDDED_WORKER = True
    assert not embedded_worker.embedded_worker_wanted()


def test_run_now_returns_at_once_and_the_status_says_what_to_do(worker, engineer, client, settings):
    skip_on_shared_memory_sqlite()
    settings.PIXAUDIT_RETRY_BACKOFF_SECONDS = [2, 3]
    conn = _unreachable_github()
    client.force_login(engineer)
    started = time.monotonic()
    response = client.post(reverse("dashboard:connection_run", args=[conn.pk]))
    answered = time.monotonic() - started
    assert response.status_code == 302
    # The HTTP client alone needs seconds to give up on the closed port (2 retries, 3 s).
    assert answered < 2.0, f"Run now held the request for {answered:.1f} s"
    run = CollectionRun.objects.get(connection=conn, attempt=1)
    assert response["Location"] == reverse("dashboard:run_detail", args=[run.pk])
    assert run.status in ("queued", "running")
    assert run.worker, "the run is owned by this process, whose threads execute it"

    status_url = reverse("dashboard:run_status", args=[run.pk])
    assert client.get(status_url).json()["any_active"] is True
    wait_for(
        lambda: CollectionRun.objects.get(pk=run.pk).status == "failed",
        timeout=60,
        what="the first attempt to fail",
    )
    data = client.get(status_url).json()
    assert data["status"] == "failed"
    assert data["error_advice"] == (
        "The GitHub endpoint could not be reached: check network access and the endpoint's address."
    )
    assert "ConnectionError" in data["error_message"]  # the detail, shown second
    run.refresh_from_db()
    assert run.error_kind == "network"
    # Every attempt is listed, the first with its real duration.
    assert [a["attempt"] for a in data["attempts"]][:2] == [1, 2]
    assert data["attempts"][0]["duration"] not in ("", "—")
    page = client.get(reverse("dashboard:run_detail", args=[run.pk])).content.decode()
    assert "The GitHub endpoint could not be reached" in page
    assert "Attempts" in page
    # Let the automatic retries finish before the database is flushed.
    wait_for(
        lambda: not CollectionRun.objects.filter(status__in=("queued", "running")).exists(),
        timeout=90,
        what="every attempt to finish",
    )
    assert CollectionRun.objects.filter(connection=conn).count() == 3
    # The lists say it too, not only the run page.
    for name in ("dashboard:run_list", "dashboard:connection_list"):
        assert (
            "The GitHub endpoint could not be reached" in client.get(reverse(name)).content.decode()
        )


def test_jobs_on_other_queues_run_in_the_worker_threads(worker, transactional_db):
    queue = django_rq.get_queue("default")
    assert queue.is_async
    job = queue.enqueue("threading.get_ident")
    wait_for(lambda: job.get_status(refresh=True) == "finished", timeout=20, what="the job")
    import threading

    assert job.return_value() != threading.get_ident()


def _ran_at(path):
    import time as _time

    with open(path, "a") as fh:
        fh.write(f"{_time.time()}\n")


def test_scheduled_jobs_run_when_due_and_never_before(worker, transactional_db, tmp_path):
    """``enqueue_in`` on the embedded queue: the threads run it once due, not at once."""
    from datetime import timedelta

    queue = django_rq.get_queue("default")
    marker = tmp_path / "ran"
    scheduled = time.time()
    job = queue.enqueue_in(timedelta(seconds=2), _ran_at, str(marker))
    time.sleep(1.0)
    assert not marker.exists(), "a job scheduled 2 s ahead ran at once"
    wait_for(lambda: marker.exists(), timeout=20, what="the scheduled job")
    ran = float(marker.read_text().split()[0])
    assert ran >= scheduled + 2.0, f"ran {ran - scheduled:.2f} s after scheduling, due after 2 s"
    assert ran < scheduled + 2.0 + 3.0, "ran far later than due"
    assert job.get_status(refresh=True) == "finished"


def test_a_failed_runs_retry_waits_for_its_backoff(worker, engineer, client, settings):
    """With the embedded worker a transient failure's next attempt starts only after the
    backoff (it used to run at once, in-process)."""
    skip_on_shared_memory_sqlite()
    settings.PIXAUDIT_RETRY_BACKOFF_SECONDS = [4]
    conn = _unreachable_github()
    client.force_login(engineer)
    client.post(reverse("dashboard:connection_run", args=[conn.pk]))
    first = CollectionRun.objects.get(connection=conn, attempt=1)
    wait_for(
        lambda: CollectionRun.objects.get(pk=first.pk).status == "failed",
        timeout=60,
        what="the first attempt to fail",
    )
    first.refresh_from_db()
    second = CollectionRun.objects.get(retry_of=first)
    assert second.retry_at is not None
    assert (second.retry_at - first.finished_at).total_seconds() >= 3.9
    wait_for(
        lambda: CollectionRun.objects.get(pk=second.pk).started_at is not None,
        timeout=60,
        what="the second attempt to start",
    )
    second.refresh_from_db()
    waited = (second.started_at - first.finished_at).total_seconds()
    assert waited >= 4.0, f"attempt 2 started {waited:.2f} s after attempt 1 failed (backoff 4 s)"
    assert second.started_at >= second.retry_at
    wait_for(
        lambda: not CollectionRun.objects.filter(status__in=("queued", "running")).exists(),
        timeout=90,
        what="every attempt to finish",
    )


def _report_worker(conn):
    conn.send((embedded_worker.embedded_worker_running(), django_rq.get_queue("default").is_async))
    conn.close()


def test_a_forked_web_process_serves_its_own_queues(worker):
    """``gunicorn --preload`` forks its workers after ``wsgi.py`` started the threads, which
    a child does not inherit: the child starts its own, or every job would run inside its
    requests (webhooks posted while the page waits)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_report_worker, args=(theirs,))
    child.start()
    assert ours.poll(20), "the forked child did not answer"
    running, is_async = ours.recv()
    child.join(20)
    assert running and is_async, "the forked child has no worker threads"


def test_the_embedded_worker_is_on_by_default():
    assert settings.RQ["QUEUE_CLASS"] == "pixaudit.lib.embedded_worker.PixauditQueue"
