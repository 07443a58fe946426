"""Servers a fault test may stop: a private redis-server and a private PostgreSQL cluster.

Each listens on a free port of its own and is stopped only by the test that started it;
the shared PostgreSQL (5432) and Redis (6379) are never touched. Workers are real
``manage.py rqworker`` processes, each in a process group of its own so that kill -9 takes
its work horse too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class PrivateRedis:
    """A redis-server without persistence: a restart loses every job, as in production."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="pixaudit-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), timeout=10, what="the private redis-server")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # a crash: nothing is saved
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, migrated for pixaudit."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pixaudit-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                          "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/pixaudit"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                          "-w", "start"]),
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        # "fast" terminates every session ("terminating connection due to administrator
        # command"), as a restart by an operator does; "immediate" is a crash.
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"]),
            check=True, capture_output=True,
        )  # fmt: skip

    def create_database(self) -> None:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q", "-c",
             "CREATE DATABASE pixaudit"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                           "DATABASE_URL": self.url},
            check=True, capture_output=True,
        )  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a worker's work horse)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def shared_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): workers share the database")


@pytest.fixture
def private_redis(monkeypatch, needs_postgres):
    """A private Redis that this process's queues use too (jobs go to it, not in-process)."""
    server = PrivateRedis()
    server.start()
    for name, config in list(settings.RQ_QUEUES.items()):
        queue = {k: v for k, v in config.items() if k != "USE_REDIS_CACHE"}
        monkeypatch.setitem(settings.RQ_QUEUES, name, {**queue, "URL": server.url, "ASYNC": True})
    yield server
    server.close()


@pytest.fixture(scope="module")
def private_postgres_cluster():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): workers share the database")
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("needs initdb and pg_ctl for a private PostgreSQL")
    server = PrivatePostgres()
    server.start()
    server.create_database()
    yield server
    server.close()


@pytest.fixture
def private_postgres(private_postgres_cluster, needs_postgres, django_db_blocker):
    """Point this process's default database at the private cluster for one test."""
    server = private_postgres_cluster
    with contextlib.suppress(subprocess.CalledProcessError):
        server.start()  # a previous test may have left it stopped
    saved = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(
            NAME="pixaudit", HOST="127.0.0.1", PORT=str(server.port), USER="postgres",
            PASSWORD="",
        )  # fmt: skip
        try:
            yield server
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


@pytest.fixture
def workers():
    """Real ``manage.py rqworker`` processes: ``workers.start(redis_url=...)``."""
    pool = WorkerPool()
    yield pool
    pool.stop_all()


class WorkerPool:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        # The workers' logs, for a failing test's report (pytest shows captured stderr).
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop_all)

    def start(
        self, *, redis_url: str, database_url: str | None = None,
        queues: tuple[str, ...] = ("collect", "reports", "default"), env: dict | None = None,
    ) -> subprocess.Popen:  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *queues],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "DATABASE_URL": database_url or shared_database_url(),
                "REDIS_URL": redis_url,
                "PIXAUDIT_VAR_DIR": str(settings.VAR_DIR),
                **(env or {}),
            },
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """kill -9 the worker and its work horse, as an OOM kill or a lost machine would."""
        for group in [proc.pid, *children(proc.pid)]:  # RQ gives the horse a group of its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)
        self.log.seek(0)
        sys.stderr.write(self.log.read().decode("utf-8", "replace")[-6000:])
        self.log.close()
