"""Ingest benchmark: N rows evaluated by 3 assertions on PostgreSQL, findings persisted per second.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 100000] [--runs 2]

Runs the real runner (collect → coerce → evaluate → canonicalise → hash → one-transaction
ingest with COPY and the current-state upsert) on a synthetic collector, and reports the
ingest step alone and the whole run. Target (issue 3): at least 20,000 findings persisted per
second for 100,000 rows × 3 assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rows", type=int, default=100_000)
parser.add_argument("--runs", type=int, default=2)
args = parser.parse_args()
url = setup_django("pixaudit_bench_ingest")

from collectors import (  # noqa: E402
    Collector,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    registry,
)
from pixaudit.evidence import services  # noqa: E402
from pixaudit.evidence.integrity import verify_chain  # noqa: E402
from pixaudit.evidence.services import runs as runs_module  # noqa: E402


class BenchBucketsCollector(Collector):
    """Synthetic buckets for the ingest benchmark."""

    key = "bench_buckets"
    title = "Benchmark buckets"
    params = (Param("n", "integer", default=args.rows),)
    columns = (
        Column("name", "string", "Bucket ARN."),
        Column("encrypted", "boolean", "Encrypted at rest."),
        Column("versioning", "boolean", "Versioning enabled."),
        Column("size", "integer", "Size in bytes."),
    )
    resource_column = "name"
    max_age = timedelta(days=1)

    def collect(self, ctx):
        return [
            {"name": f"arn:aws:s3:::bucket-{i:07d}", "encrypted": i % 7 != 0,
             "versioning": i % 5 != 0, "size": i}
            for i in range(ctx.params["n"])
        ]  # fmt: skip

    @assertion("bench_buckets.encrypted", title="Encrypted", severity=Severity.HIGH,
               remediation="Encrypt.", controls=("soc2-2017:CC6.1",))  # fmt: skip
    def encrypted(row, params):
        return Outcome(Status.PASS if row["encrypted"] else Status.FAIL, "encryption checked")

    @assertion("bench_buckets.versioning", title="Versioning", severity=Severity.MEDIUM,
               remediation="Enable.", controls=("soc2-2017:A1.2",))  # fmt: skip
    def versioning(row, params):
        return Outcome(Status.PASS if row["versioning"] else Status.FAIL, "versioning checked")

    @assertion("bench_buckets.small", title="Small", severity=Severity.LOW,
               remediation="Shrink.", controls=("soc2-2017:CC7.1",))  # fmt: skip
    def small(row, params):
        return Outcome(Status.PASS if row["size"] < args.rows // 2 else Status.WARN, "sized")


ingest_seconds: list[float] = []
_ingest = runs_module.evidence_ingest


def _timed_ingest(**kwargs):
    start = time.perf_counter()
    item = _ingest(**kwargs)
    ingest_seconds.append(time.perf_counter() - start)
    return item


runs_module.evidence_ingest = _timed_ingest
print(f"database {url}; {args.rows:,} rows x 3 assertions")
with registry.temporarily(BenchBucketsCollector):
    conn = services.connection_create(name="bench", collector_key="bench_buckets", params={})
    for i in range(args.runs):
        run = services.collection_run_create(connection=conn, trigger="manual")
        start = time.perf_counter()
        run = services.collection_run_execute(run_id=run.pk)
        total = time.perf_counter() - start
        assert run.status == "succeeded", run.error_message
        n = run.findings_total
        print(
            f"run {i + 1}: {n:,} findings; ingest {ingest_seconds[-1]:.2f} s = "
            f"{n / ingest_seconds[-1]:,.0f} findings/s persisted; whole run {total:.2f} s = "
            f"{n / total:,.0f} findings/s"
        )
start = time.perf_counter()
result = verify_chain()
print(f"verify_evidence: {result.summary()[:40]}… in {time.perf_counter() - start:.2f} s")
