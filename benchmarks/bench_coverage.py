"""Benchmark: the framework coverage page over one year with 1,000,000 findings (issue 14).

Seeds a dedicated database (``pixaudit_bench_coverage``, recreated per run) with set-based
SQL (``generate_series``; the runner is bypassed), as ``bench_dashboard.py`` does: 20
sources × 10 assertions, each assertion mapped to one SOC 2 and one ISO 27001 control (all
61 SOC 2 controls get some), evidence every ~18 minutes per source over one year (default
29,200 items × 35 findings ≈ 1,022,000 findings; one source in five expires after an hour,
so it has stale days). First a small history (the oldest 10 %), then the full one. After
each step it rebuilds the daily rollup (``coverage_rebuild``, timed), then requests the SOC
2 coverage page (controls × days over the last 365 days) and a control detail page with its
heatmap ~20 times each through Django's test client and prints the median and p90 server
time and the query count. It also times the post-ingest hook for the newest item.

Usage::

    .venv/bin/python benchmarks/bench_coverage.py                  # ~1M findings, one year
    .venv/bin/python benchmarks/bench_coverage.py --findings 200000 --evidence 10000
    .venv/bin/python benchmarks/bench_coverage.py --measure-only   # pages only, same data

``BENCH_POSTGRES_URL`` names the server (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

SOURCES = 20
ASSERTIONS = 10  # per source
SPAN_SECONDS = 365 * 86400

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--findings", type=int, default=1_000_000)
parser.add_argument("--evidence", type=int, default=29_200)
parser.add_argument("--requests", type=int, default=20)
parser.add_argument("--small-fraction", type=float, default=0.1)
parser.add_argument("--resources", type=int, default=250, help="current resources per assertion")
parser.add_argument(
    "--measure-only", action="store_true", help="reuse the seeded database: measure the pages"
)
args = parser.parse_args()

os.environ["DEBUG"] = "false"
url = setup_django("pixaudit_bench_coverage", fresh=not args.measure_only)

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from pixaudit.accounts.models import Role  # noqa: E402
from pixaudit.accounts.services import user_create  # noqa: E402
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry  # noqa: E402
from pixaudit.controls.models import CheckMapping, Control, Framework  # noqa: E402
from pixaudit.controls.services import catalogs_load_builtin  # noqa: E402
from pixaudit.evidence.models import Connection, EvidenceItem  # noqa: E402
from pixaudit.posture.models import CoverageDay  # noqa: E402
from pixaudit.posture.rollup import coverage_after_ingest, coverage_rebuild  # noqa: E402

setup_test_environment()
NOW = timezone.now()
TODAY = NOW.date()
WINDOW = f"cov-start={TODAY - timedelta(days=364):%Y-%m-%d}&cov-end={TODAY:%Y-%m-%d}"


def sql(statement: str, params: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})
        return cursor.rowcount


def seed_catalog() -> list[int]:
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    mappings = []
    for framework in Framework.objects.all():
        controls = list(
            Control.objects.filter(framework=framework, assessable=True)
            .exclude(kind=Control.Kind.GROUP)
            .order_by("sort_order")
        )
        for n in range(SOURCES * ASSERTIONS):
            s, a = divmod(n, ASSERTIONS)
            control = controls[(n * 7) % len(controls)]
            mappings.append(
                CheckMapping(
                    assertion_id=f"bench_src{s}.check{a}",
                    control=control,
                    rationale="bench",
                    source="plugin",
                )
            )
    CheckMapping.objects.bulk_create(mappings, ignore_conflicts=True)
    conns = Connection.objects.bulk_create(
        [Connection(name=f"bench {s}", collector_key=f"bench_src{s}") for s in range(SOURCES)]
    )
    user_create(username="bench", email="b@example.com", role=Role.ENGINEER, password="x" * 16)
    return [c.pk for c in conns]


def seed_history(first: int, last: int, total: int, per_item: int, conns: list[int]) -> None:
    """Runs, evidence items ``first..last`` (of ``total``) and ``per_item`` findings each."""
    params = {
        "a": first,
        "b": last,
        "total": total,
        "span": SPAN_SECONDS,
        "now": NOW,
        "conns": conns,
        "s": SOURCES,
        "k": per_item - 1,
        "na": ASSERTIONS,
    }
    series = """
        SELECT i, mod(i, %(s)s) AS src,
               %(now)s::timestamptz - ((%(total)s - i)::float8 * %(span)s / %(total)s)
                   * interval '1 second' AS ts
        FROM generate_series(%(a)s, %(b)s) AS i
    """
    sql(
        f"""
        INSERT INTO evidence_collectionrun (id, connection_id, collector_key, params, secrets,
            thresholds, status, trigger, attempt, queued_at, started_at, finished_at, rows_count,
            findings_pass, findings_fail, findings_warn, findings_error, error_message,
            error_permanent, error_kind, job_id, worker, requeues, worker_started)
        SELECT i, (%(conns)s::bigint[])[src + 1], 'bench_src' || src, '{{}}', '{{}}', '{{}}',
            'succeeded', 'schedule', 1, ts, ts, ts, 20, 18, 2, 0, 0, '', false, '', '',
            'bench', 0, ''
        FROM ({series}) g
        """,
        params,
    )
    sql(
        f"""
        INSERT INTO evidence_evidenceitem (id, run_id, connection_id, collector_key,
            collector_version, pixaudit_version, collected_at, effective_at, expires_at,
            row_count, findings_count, sha256, artifact_path, size, findings_digest, seq,
            prev_chain_hash, chain_hash, provenance, created_at, digest_version)
        SELECT i, i, (%(conns)s::bigint[])[src + 1], 'bench_src' || src, 1, '0.1.0', ts, ts,
            ts + CASE WHEN mod(src, 5) = 0 THEN interval '1 hour' ELSE interval '1 day' END,
            %(k)s + 1, %(k)s + 1, md5('a' || i) || md5('b' || i),
            'evidence/bench/' || i || '.json', 4096, md5('f' || i) || md5('g' || i), i,
            md5('p' || i) || md5('q' || i), md5('c' || i) || md5('d' || i), '{{}}', ts, 2
        FROM ({series}) g
        """,
        params,
    )
    sql(
        """
        INSERT INTO evidence_finding (evidence_id, run_id, assertion_id, resource, status,
            severity, message, thresholds, controls, collected_at)
        SELECT e.id, e.run_id, e.collector_key || '.check' || mod(k, %(na)s),
            'res-' || mod(e.id / %(s)s + k, 5000),
            CASE WHEN mod(e.id, 23) = 0 AND k = 0 THEN 'fail' ELSE 'pass' END,
            'high', 'bench finding', '{}', '[]', e.collected_at
        FROM evidence_evidenceitem e CROSS JOIN generate_series(0, %(k)s) AS k
        WHERE e.id BETWEEN %(a)s AND %(b)s
        """,
        params,
    )
    for table in ("evidence_collectionrun", "evidence_evidenceitem"):
        sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )


def seed_latest(resources: int) -> None:
    """Current state: every assertion × ``resources`` resources, from each source's newest item."""
    sql("TRUNCATE evidence_latestresult")
    sql(
        """
        INSERT INTO evidence_latestresult (assertion_id, resource, collector_key, connection_id,
            status, severity, message, controls, evidence_id, collected_at, first_seen_at,
            last_changed_at)
        SELECT e.collector_key || '.check' || a, 'res-' || r, e.collector_key, e.connection_id,
            CASE WHEN mod(s, 4) = 0 AND mod(r, 13) = 0 THEN 'fail'
                 WHEN mod(s, 7) = 3 AND mod(r, 29) = 0 THEN 'error'
                 WHEN mod(s, 5) = 2 AND mod(r, 31) = 0 THEN 'warn'
                 ELSE 'pass' END,
            CASE WHEN mod(a, 3) = 0 THEN 'critical' WHEN mod(a, 3) = 1 THEN 'high'
                 ELSE 'medium' END,
            'bench result', '[]', e.id, e.collected_at, e.collected_at, e.collected_at
        FROM generate_series(0, %(s)s - 1) AS s
        CROSS JOIN LATERAL (
            SELECT id, collector_key, connection_id, collected_at FROM evidence_evidenceitem
            WHERE collector_key = 'bench_src' || s ORDER BY seq DESC LIMIT 1
        ) e
        CROSS JOIN generate_series(0, %(na)s - 1) AS a
        CROSS JOIN generate_series(0, %(r)s - 1) AS r
        """,
        {"s": SOURCES, "na": ASSERTIONS, "r": resources},
    )
    sql("ANALYZE")


PAGES = [
    ("framework coverage", f"/frameworks/soc2-2017/coverage/?{WINDOW}"),
    ("control detail", f"/controls/soc2-2017/CC6.1/?{WINDOW}"),
]


def rebuild() -> None:
    start = time.perf_counter()
    rows = coverage_rebuild()
    print(f"coverage_rebuild: {rows:,} rollup rows in {time.perf_counter() - start:.1f}s")
    item = EvidenceItem.objects.order_by("-seq").first()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        coverage_after_ingest(item=item)
        times.append((time.perf_counter() - start) * 1000)
    print(f"post-ingest hook for one item: median {statistics.median(times):.1f} ms")


def measure(client: Client, label: str) -> dict[str, tuple[float, float, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM evidence_finding), "
            "(SELECT count(*) FROM evidence_evidenceitem), "
            f"(SELECT count(*) FROM {CoverageDay._meta.db_table})"
        )
        findings, items, rollup = cursor.fetchone()
    load = os.getloadavg()[0]
    print(
        f"\n== {label}: load average {load:.1f}; {findings:,} findings, "
        f"{items:,} evidence items, {rollup:,} rollup rows"
    )
    print(
        f"{'page':<24} {'median ms':>10} {'p90 ms':>8} {'CPU ms':>7} {'SQL ms':>7} "
        f"{'queries':>8} {'KiB':>6}"
    )
    results = {}
    for name, path in PAGES:
        for _ in range(3):  # warm-up
            assert client.get(path).status_code == 200
        times, cpu = [], []
        for _ in range(args.requests):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as ctx:
            size = len(client.get(path).content) // 1024
        sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
        times.sort()
        p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
        results[name] = (statistics.median(times), p90, len(ctx.captured_queries))
        print(
            f"{name:<24} {results[name][0]:>10.1f} {p90:>8.1f} {statistics.median(cpu):>7.1f} "
            f"{sql_ms:>7.1f} {results[name][2]:>8} {size:>6}"
        )
    return results


def main() -> None:
    if args.measure_only:
        client = Client()
        client.login(username="bench", password="x" * 16)
        measure(client, "as seeded")
        return
    t0 = time.perf_counter()
    conns = seed_catalog()
    per_item = max(1, -(-args.findings // args.evidence))
    small = max(SOURCES, int(args.evidence * args.small_fraction))
    seed_history(1, small, args.evidence, per_item, conns)
    seed_latest(max(1, args.resources // 5))
    print(f"seeded the small history in {time.perf_counter() - t0:.1f}s ({url})")
    rebuild()
    client = Client()
    client.login(username="bench", password="x" * 16)
    first = measure(client, "small")
    t1 = time.perf_counter()
    seed_history(small + 1, args.evidence, args.evidence, per_item, conns)
    seed_latest(args.resources)
    print(f"\nseeded the full history in {time.perf_counter() - t1:.1f}s")
    rebuild()
    second = measure(client, "full")
    for name in first:
        print(f"query count constant, {name}: {first[name][2]} -> {second[name][2]}")
    print("framework coverage median <= 300 ms:", second["framework coverage"][0] <= 300)


main()
