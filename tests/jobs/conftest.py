"""Helpers for tests that run real RQ workers against the real Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def real_services():
    """Skip unless the suite runs on PostgreSQL and Redis (workers need both, shared)."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    import django_rq

    redis = django_rq.get_connection("collect")
    redis.flushdb()
    yield redis
    redis.flushdb()


@pytest.fixture
def async_collect_queue(monkeypatch, real_services):
    """The ``collect`` queue as production has it: jobs go to Redis, workers run them."""
    monkeypatch.setitem(settings.RQ_QUEUES["collect"], "ASYNC", True)
    return real_services


@pytest.fixture
def start_worker():
    """Start ``manage.py rqworker collect`` processes sharing this test's DB, Redis and files."""
    procs: list[subprocess.Popen] = []

    def _start(*extra: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "PIXAUDIT_VAR_DIR": str(settings.VAR_DIR),
        }
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "collect", *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: kill -9 takes the work horse too
        )
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def skip_on_shared_memory_sqlite() -> None:
    """Skip a test whose job threads write while the test reads, on SQLite's in-memory test
    database: Django shares it between threads in shared-cache mode, where a write locks the
    whole table and readers fail at once ("database table is locked") instead of waiting.
    The embedded default itself uses a file in WAL mode with a busy timeout."""
    s = connection.settings_dict
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(f"needs a database shared by threads (SQLite test database {s['NAME']!r})")


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
