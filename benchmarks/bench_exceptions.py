"""Benchmark: the exceptions register over one year of daily evidence on PostgreSQL.

Seeds a dedicated database (``pixaudit_bench_exceptions``, recreated per run) with
set-based SQL (the runner is bypassed): one daily collection for a year from each of
``--connections`` connections, each item carrying ``--resources`` × 3 findings of
``demo_inventory`` assertions (mapped to SOC 2 CC6.1 and ISO 27001 controls). A pair fails
for 5 days in every 50 (staggered), so a year holds ~22,000 exceptions per 1,000 resources.
Then it times: the full rebuild (``exceptions_rebuild``), a rebuild that changes nothing,
the incremental sync after one more day from every connection, and the register page
(open exceptions, first page), its CSV export of every exception and the past-deadline
filter through Django's test client, with their query counts.

Usage::

    .venv/bin/python benchmarks/bench_exceptions.py                       # 1 × 1000, ~1.1M
    .venv/bin/python benchmarks/bench_exceptions.py --connections 2 --resources 200

``BENCH_POSTGRES_URL`` names the server (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

ASSERTIONS = ("demo_inventory.encryption_at_rest", "demo_inventory.mfa_enabled",
              "demo_inventory.key_rotation")  # fmt: skip

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--connections", type=int, default=1)
parser.add_argument("--resources", type=int, default=1000)
parser.add_argument("--days", type=int, default=365)
parser.add_argument("--requests", type=int, default=5)
args = parser.parse_args()

os.environ["DEBUG"] = "false"
setup_django("pixaudit_bench_exceptions")

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from pixaudit.accounts.models import Role  # noqa: E402
from pixaudit.accounts.services import user_create  # noqa: E402
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry  # noqa: E402
from pixaudit.controls.services import catalogs_load_builtin  # noqa: E402
from pixaudit.evidence.models import Connection, Finding  # noqa: E402
from pixaudit.exceptions.models import ExceptionRecord  # noqa: E402
from pixaudit.exceptions.services import exceptions_rebuild, exceptions_sync  # noqa: E402

setup_test_environment()
NOW = timezone.now()


def sql(statement: str, params: dict) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def seed(first_day: int, last_day: int, conns: list[int]) -> None:
    """Items for days ``first_day..last_day`` (day 0 = a year ago) of every connection."""
    n = len(conns)
    params = {"a": first_day * n, "b": (last_day + 1) * n - 1, "n": n, "conns": conns,
              "now": NOW, "days": args.days, "r": args.resources,
              "asserts": list(ASSERTIONS)}  # fmt: skip
    series = """SELECT i, mod(i, %(n)s) AS c, i / %(n)s AS d,
                       %(now)s::timestamptz - (%(days)s - i / %(n)s) * interval '1 day' AS ts
                FROM generate_series(%(a)s, %(b)s) AS i"""
    sql(f"""
        INSERT INTO evidence_collectionrun (id, connection_id, collector_key, params, secrets,
            thresholds, status, trigger, attempt, queued_at, started_at, finished_at, rows_count,
            findings_pass, findings_fail, findings_warn, findings_error, error_message,
            error_permanent, error_kind, job_id, worker, worker_started, requeues)
        SELECT i + 1, (%(conns)s::bigint[])[c + 1], 'demo_inventory', '{{}}', '{{}}', '{{}}',
            'succeeded', 'schedule', 1, ts, ts, ts, 0, 0, 0, 0, 0, '', false, '', '', 'bench', '', 0
        FROM ({series}) g""", params)  # fmt: skip
    sql(f"""
        INSERT INTO evidence_evidenceitem (id, run_id, connection_id, collector_key,
            collector_version, pixaudit_version, collected_at, effective_at, expires_at,
            row_count, findings_count, sha256, artifact_path, size, findings_digest, seq,
            prev_chain_hash, chain_hash, provenance, created_at, digest_version)
        SELECT i + 1, i + 1, (%(conns)s::bigint[])[c + 1], 'demo_inventory', 1, '0.1.0', ts, ts,
            ts + interval '2 days', %(r)s, %(r)s * 3, md5('a' || i) || md5('b' || i),
            'evidence/bench/' || i || '.json', 4096, md5('f' || i) || md5('g' || i), i + 1,
            md5('p' || i) || md5('q' || i), md5('c' || i) || md5('d' || i), '{{}}', ts, 2
        FROM ({series}) g""", params)  # fmt: skip
    sql(f"""
        INSERT INTO evidence_finding (evidence_id, run_id, assertion_id, resource, status,
            severity, message, thresholds, controls, collected_at)
        SELECT g.i + 1, g.i + 1, (%(asserts)s::text[])[a + 1], 'res-' || r,
            CASE WHEN mod(g.d + r * 7 + a * 13, 50) < 5 THEN 'fail' ELSE 'pass' END,
            'high', 'bench finding', '{{}}', '[]', g.ts
        FROM ({series}) g CROSS JOIN generate_series(0, %(r)s - 1) AS r
             CROSS JOIN generate_series(0, 2) AS a""", params)  # fmt: skip
    for table in ("evidence_collectionrun", "evidence_evidenceitem"):
        sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT max(id) FROM {table}))", {})  # fmt: skip


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s  {result}")
    return result


def page(client: Client, url: str, *, memory: bool = False) -> None:
    """Median time over ``--requests`` requests (a streamed body is read to its end, and the
    time to its first piece is noted); with ``memory``, one more request under tracemalloc
    for the peak of Python allocations (tracemalloc slows the request, so it is not timed)."""
    times, firsts, queries = [], [], 0
    for _ in range(args.requests):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                size = 0
                for chunk in response.streaming_content:
                    if not size:
                        firsts.append(time.perf_counter() - start)
                    size += len(chunk)
            else:
                size = len(response.content)
            times.append(time.perf_counter() - start)
        queries = len(ctx.captured_queries)
        assert response.status_code == 200, response.status_code
    first = f", first bytes after {statistics.median(firsts) * 1000:.0f} ms" if firsts else ""
    peak = ""
    if memory:
        tracemalloc.start()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            for _ in response.streaming_content:
                pass
        peak = f", Python allocation peak {tracemalloc.get_traced_memory()[1] / 2**20:.0f} MiB"
        tracemalloc.stop()
    print(f"GET {url}: median {statistics.median(times) * 1000:.0f} ms{first}, "
          f"{queries} queries, {size / 1024:.0f} KiB{peak}")  # fmt: skip


catalogs_load_builtin()
check_mappings_sync_from_registry()
conns = [Connection.objects.create(name=f"bench {c}", collector_key="demo_inventory").pk
         for c in range(args.connections)]  # fmt: skip
start = time.perf_counter()
seed(0, args.days - 1, conns)
print(f"seeded {Finding.objects.count():,} findings in {args.days * len(conns)} items "
      f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
timed("full rebuild", exceptions_rebuild)
print(f"exceptions: {ExceptionRecord.objects.count():,}, "
      f"open: {ExceptionRecord.objects.filter(closed_at__isnull=True).count():,}")  # fmt: skip
timed("rebuild, nothing to change", exceptions_rebuild)
seed(args.days, args.days, conns)
timed("incremental sync of one more day", exceptions_sync)
user = user_create(username="bench", email="b@example.com", role=Role.ENGINEER,
                   password="x" * 16)  # fmt: skip
client = Client()
client.force_login(user)
page(client, reverse("exceptions:register") + "?status=open")
page(client, reverse("exceptions:register") + "?past_deadline=1&severity=high")
page(client, reverse("exceptions:export", args=["csv"]), memory=True)
page(client, reverse("exceptions:export", args=["xlsx"]), memory=True)
