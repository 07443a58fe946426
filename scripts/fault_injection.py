#!/usr/bin/env python
"""Fault injection on the job layer: kill -9 workers at random, restart Redis, count damage.

    .venv/bin/python scripts/fault_injection.py [SECONDS] [--workers 3] [--connections 12]

Starts a private ``redis-server`` (no persistence, a free port) and uses a PostgreSQL
database of its own (``pixaudit_fault_<pid>`` on ``BENCH_POSTGRES_URL``, default
``postgres://postgres@127.0.0.1:5432``; dropped at the end unless ``--keep``). It runs the
production set-up: ``manage.py scheduler`` and N ``manage.py rqworker default collect
reports`` processes, with demo_inventory connections due every minute (some slow, so that
kills land mid-run; some failing transiently, so that retries happen), plus random "Run
now" requests. For SECONDS (default 120) it kill -9s a random worker (with its work horse;
mostly a busy one) or only a work horse every few seconds, restarting killed workers as a
supervisor would, and restarts Redis once, halfway, right after a "Run now" on every
connection (so that Redis loses queued jobs). Then it stops the faults, disables the
connections, and waits for every run to finish (retries included).

The last line printed holds the counts: runs stuck (still queued or running), evidence
items lost (a succeeded run without its item) or duplicated (a run with two, or an item of
a run that did not succeed), whether the hash chain verifies, and the latest any retry
started after it was due. Exit status 0 when there are no stuck runs, no lost or duplicated
items, the chain verifies and every retry started within 60 s of its due time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
TARGET_LATENESS = 60.0


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port, self.dir = free_port(), workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Processes:
    """The scheduler and the workers, each in a process group of its own."""

    def __init__(self, env: dict[str, str], logfile) -> None:
        self.env, self.logfile = env, logfile
        self.workers: list[subprocess.Popen] = []
        self.scheduler: subprocess.Popen | None = None

    def _spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
            stdout=self.logfile, stderr=self.logfile, start_new_session=True,
        )  # fmt: skip

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn("scheduler")

    def start_worker(self) -> subprocess.Popen:
        proc = self._spawn("rqworker", "default", "collect", "reports")  # as the README says
        self.workers.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        # The worker's process group, and its work horse's (RQ puts it in a group of its own).
        for group in [proc.pid, *children(proc.pid)]:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            if proc.poll() is None:
                self.kill(proc)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def create_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url}/{name}"


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", nargs="?", type=int, default=120, help="fault time (120)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--connections", type=int, default=12)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER).rstrip("/")
    db_name = f"pixaudit_fault_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="pixaudit-fault-"))
    redis = Redis(workdir)
    redis.start()
    database_url = create_database(admin_url, db_name)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pixaudit.settings",
        "PIXAUDIT_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "PIXAUDIT_VAR_DIR": str(workdir / "var"),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "PIXAUDIT_ENV",
                                          "DATABASE_URL", "REDIS_URL", "PIXAUDIT_VAR_DIR",
                                          "LOG_LEVEL")})  # fmt: skip
    sys.path.insert(0, str(ROOT))
    logfile = open(workdir / "processes.log", "ab")  # noqa: SIM115 (closed below)
    procs = Processes(env, logfile)
    try:
        return run(args, rng, redis, procs)
    finally:
        procs.stop_all()
        redis.kill()
        logfile.close()
        if args.keep:
            log(f"kept database {db_name} and {workdir}")
        else:
            from django.db import connections

            connections.close_all()
            drop_database(admin_url, db_name)
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, rng: random.Random, redis: Redis, procs: Processes) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from pixaudit.evidence.models import CollectionRun, Connection, RunStatus
    from pixaudit.evidence.services import CollectionRunActive, connection_create
    from pixaudit.evidence.services.scheduling import collection_run_start

    connections = []
    for i in range(args.connections):
        params: dict = {"simulate_delay": rng.choice([0.2, 0.5, 1.0])}  # 1 to 6 s a run
        if i % 4 == 3:
            params = {"simulate_error": "transient"}  # fails every attempt: retries galore
        connections.append(
            connection_create(
                name=f"fault-{i:02d}",
                collector_key="demo_inventory",
                params=params,
                schedule_minutes=1,
            )  # fmt: skip
        )
    database = settings.DATABASES["default"]["NAME"]
    log(f"{len(connections)} connections, redis {redis.url}, database {database}")
    procs.start_scheduler()
    for _ in range(args.workers):
        procs.start_worker()

    def run_now(conn) -> int:
        try:
            collection_run_start(connection=conn, trigger="manual")
            return 1
        except CollectionRunActive:
            return 0
        except Exception as exc:  # the database away: the user would see an error page
            log(f"Run now of {conn.name} failed: {type(exc).__name__}: {exc}")
            return 0

    kills = horse_kills = run_nows = 0
    redis_restarted = False
    started = time.monotonic()
    next_fault = started + rng.uniform(3, 8)
    next_run_now = started + rng.uniform(2, 6)
    while (elapsed := time.monotonic() - started) < args.seconds:
        now = time.monotonic()
        if not redis_restarted and elapsed >= args.seconds / 2:
            # "Run now" on every connection first, so that Redis holds queued jobs to lose.
            burst = sum(run_now(conn) for conn in connections)
            run_nows += burst
            log(f"Run now on {burst} connections, then Redis: kill -9, restart in 2 s "
                "(no persistence: every job is lost)")  # fmt: skip
            redis.kill()
            time.sleep(2)
            redis.start()
            redis_restarted = True
        for proc in [p for p in procs.workers if p.poll() is not None]:
            # Exited by itself (a worker started while Redis was down gives up): the
            # supervisor starts it again.
            procs.workers.remove(proc)
            procs.start_worker()
        if now >= next_fault:
            live = [p for p in procs.workers if p.poll() is None]
            busy = [p for p in live if children(p.pid)]
            # Mostly a worker in the middle of a collection (its horse owns a running run),
            # else one busy with any job: that is where a kill can do damage.
            running = {int(w.rpartition(":")[2]) for w in CollectionRun.objects.filter(
                status=RunStatus.RUNNING).values_list("worker", flat=True) if w}  # fmt: skip
            collecting = [p for p in busy if running & set(children(p.pid))]
            pick = rng.random()
            victim = rng.choice(
                collecting if collecting and pick < 0.6 else busy if busy and pick < 0.9 else live
            ) if live else None  # fmt: skip
            if victim is None:
                next_fault = now + 1
                continue
            horses = children(victim.pid)
            if horses and rng.random() < 0.4:
                os.kill(horses[0], signal.SIGKILL)
                horse_kills += 1
                log(f"kill -9 work horse {horses[0]} of worker {victim.pid}")
            else:
                procs.kill(victim)
                procs.workers.remove(victim)
                kills += 1
                log(f"kill -9 worker {victim.pid}{' and its busy horse' if horses else ''}")
                time.sleep(rng.uniform(0, 2))  # the supervisor restarts it
                procs.start_worker()
            next_fault = now + rng.uniform(2, 6)
        if now >= next_run_now:
            run_nows += run_now(rng.choice(connections))
            next_run_now = now + rng.uniform(1, 4)
        time.sleep(0.2)

    log("faults stopped; connections disabled; waiting for every run to finish")
    Connection.objects.update(enabled=False)
    drain = max(settings.PIXAUDIT_RETRY_BACKOFF_SECONDS) + 180
    deadline = time.monotonic() + drain
    active = CollectionRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
    while active.exists() and time.monotonic() < deadline:
        time.sleep(2)
    scheduler_alive = procs.scheduler is not None and procs.scheduler.poll() is None
    return report(kills, horse_kills, run_nows, scheduler_alive)


def report(kills: int, horse_kills: int, run_nows: int, scheduler_alive: bool) -> int:
    from django.db.models import Count, Q

    from pixaudit.evidence.integrity import verify_chain
    from pixaudit.evidence.models import CollectionRun, EvidenceItem, RunStatus

    runs = CollectionRun.objects.all()
    stuck = runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()
    with_items = runs.annotate(items=Count("evidence"))
    lost = with_items.filter(status=RunStatus.SUCCEEDED, items=0).count()
    duplicated = sum(max(0, r.items - 1) for r in with_items.filter(items__gt=1))
    duplicated += EvidenceItem.objects.exclude(run__status=RunStatus.SUCCEEDED).count()
    chain = verify_chain()
    retries = runs.filter(retry_of__isnull=False)
    lateness = [
        (r.started_at - r.retry_at).total_seconds()
        for r in retries.filter(started_at__isnull=False, retry_at__isnull=False)
    ]
    max_late = max(lateness, default=0.0)
    missing_retries = sum(
        1 for r in runs.filter(status=RunStatus.FAILED, error_permanent=False)
        if r.should_retry and not CollectionRun.objects.filter(retry_of=r).exists()
    )  # fmt: skip
    by_status = dict(runs.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    requeues = sum(runs.values_list("requeues", flat=True))
    messages = (
        runs.filter(status=RunStatus.FAILED).exclude(Q(error_message__contains="simulated"))
        .values_list("error_message").annotate(n=Count("pk")).order_by("-n")
    )  # fmt: skip
    log(f"runs by status: {by_status}; lost jobs re-queued: {requeues}; "
        f"retries: {retries.count()} (missing: {missing_retries})")  # fmt: skip
    for message, n in messages:
        log(f"  failed {n}×: {message}")
    log(f"workers killed: {kills}, work horses killed: {horse_kills}, Run now: {run_nows}, "
        f"Redis restarts: 1, evidence items: {EvidenceItem.objects.count()}")  # fmt: skip
    ok = (stuck == 0 and lost == 0 and duplicated == 0 and chain.ok and missing_retries == 0
          and max_late <= TARGET_LATENESS and scheduler_alive)  # fmt: skip
    print(
        f"stuck={stuck} lost={lost} duplicated={duplicated} "
        f"chain={'verified' if chain.ok else 'BROKEN'} "
        f"max_retry_lateness={max_late:.1f}s retries={len(lateness)} "
        f"runs={runs.count()} requeued={requeues} killed_workers={kills} "
        f"killed_horses={horse_kills} "
        f"redis_restarts=1 scheduler={'alive' if scheduler_alive else 'DIED'} "
        f"{'OK' if ok else 'FAIL'}",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
