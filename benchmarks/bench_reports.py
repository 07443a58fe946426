"""Reports benchmark: a SOC 2 report over one year of daily evidence for 1,000 resources.

    .venv/bin/python benchmarks/bench_reports.py [--resources 1000] [--days 365]

Seeds a dedicated PostgreSQL database (``pixaudit_bench_reports``) directly with bulk inserts:
one demo-inventory connection collected once a day, each collection a real canonical
artifact in storage, its findings (COPY) and a consistent hash chain. Then measures:

- rendering the SOC 2 PDF for the whole year: wall time and peak RSS (targets: at most 20 s
  and 1 GB);
- building the evidence pack for a quarter and for the whole year: wall time, pack size and
  the peak of Python allocations (tracemalloc) during each build, which should stay flat while
  the pack grows about fourfold.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--resources", type=int, default=1000)
parser.add_argument("--days", type=int, default=365)
args = parser.parse_args()
url = setup_django("pixaudit_bench_reports")

from django.db import connection as db  # noqa: E402
from django.db import transaction  # noqa: E402

from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry  # noqa: E402
from pixaudit.controls.services import catalogs_load_builtin  # noqa: E402
from pixaudit.evidence.canonical import canonical_bytes, format_datetime, sha256_hex  # noqa: E402
from pixaudit.evidence.integrity import compute_chain_hash, findings_digest  # noqa: E402
from pixaudit.evidence.models import (  # noqa: E402
    GENESIS_HASH,
    ChainHead,
    CollectionRun,
    EvidenceItem,
)
from pixaudit.evidence.services import connection_create  # noqa: E402
from pixaudit.evidence.storage import artifact_store  # noqa: E402

CONTROLS = {
    "demo_inventory.encryption_at_rest": ["soc2-2017:CC6.1", "iso27001-2022:A.8.24"],
    "demo_inventory.mfa_enabled": ["soc2-2017:CC6.1", "iso27001-2022:A.8.5"],
    "demo_inventory.key_rotation": ["soc2-2017:CC6.1", "iso27001-2022:A.8.24"],
    "demo_inventory.owner_assigned": ["soc2-2017:CC6.1", "iso27001-2022:A.5.9"],
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def day_rows(day: int) -> tuple[list[dict], list[tuple[str, str, str, str, str, str]]]:
    """The inventory of one day and its findings (assertion, resource, status, sev, msg, thr)."""
    rows, findings = [], []
    for i in range(args.resources):
        name = f"res-{i:05d}"
        kind = "account" if i % 5 < 2 else "service" if i % 5 == 4 else "storage"
        flaky = (i * 7 + day) % 97 == 0  # a few resources fail on some days
        row = {
            "name": name,
            "kind": kind,
            "owner": None if i % 53 == 0 else f"team-{i % 9}",
            "encrypted": None,
            "mfa": None,
            "key_age_days": None,
            "created_at": "2024-01-01T00:00:00.000000Z",
            "tags": {},
        }
        if kind == "account":
            row["mfa"] = not (flaky or i % 41 == 0)
            ok = row["mfa"]
            findings.append(
                (
                    "demo_inventory.mfa_enabled",
                    name,
                    "pass" if ok else "fail",
                    "high",
                    f"{name} {'has' if ok else 'does not have'} MFA enabled.",
                    "{}",
                )
            )
        elif kind == "storage":
            row["encrypted"] = not (flaky or i % 37 == 0)
            row["key_age_days"] = (i + day) % 120
            ok = row["encrypted"]
            findings.append(
                (
                    "demo_inventory.encryption_at_rest",
                    name,
                    "pass" if ok else "fail",
                    "high",
                    f"{name} is {'' if ok else 'not '}encrypted at rest.",
                    "{}",
                )
            )
            if ok:
                fresh = row["key_age_days"] <= 90
                findings.append(
                    (
                        "demo_inventory.key_rotation",
                        name,
                        "pass" if fresh else "fail",
                        "medium",
                        f"Key of {name} is {row['key_age_days']} days old.",
                        '{"max_days":90}',
                    )
                )
        owner_ok = row["owner"] is not None
        findings.append(
            (
                "demo_inventory.owner_assigned",
                name,
                "pass" if owner_ok else "fail",
                "low",
                f"{name} {'has an owner' if owner_ok else 'has no owner'}.",
                "{}",
            )
        )
        rows.append(row)
    return rows, findings


def seed(connection_obj) -> None:
    start = datetime.combine(
        date.today() - timedelta(days=args.days - 1), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=3)
    prev, seq = GENESIS_HASH, 0
    for day in range(args.days):
        collected_at = start + timedelta(days=day)
        rows, findings = day_rows(day)
        document = {
            "collector": {"key": "demo_inventory", "version": 1, "title": "Demo inventory"},
            "pixaudit_version": "0.1.0",
            "connection": {"id": connection_obj.pk, "name": connection_obj.name},
            "collected_at": format_datetime(collected_at),
            "params": {},
            "identity": "demo:offline",
            "api_calls": {},
            "columns": [],
            "rows": rows,
            "errors": [],
        }
        data = canonical_bytes(document)
        digest = sha256_hex(data)
        path = artifact_store(data, digest)
        fdigest = findings_digest(sorted(list(f[:5]) for f in findings))
        seq += 1
        chain = compute_chain_hash(prev, digest, fdigest)
        with transaction.atomic():
            run = CollectionRun.objects.create(
                connection=connection_obj,
                collector_key="demo_inventory",
                status="succeeded",
                trigger="schedule",
                started_at=collected_at,
                finished_at=collected_at,
                rows_count=len(rows),
            )
            item = EvidenceItem(
                run=run,
                connection=connection_obj,
                collector_key="demo_inventory",
                collector_version=1,
                pixaudit_version="0.1.0",
                collected_at=collected_at,
                effective_at=collected_at,
                expires_at=collected_at + timedelta(days=1),
                row_count=len(rows),
                findings_count=len(findings),
                sha256=digest,
                artifact_path=path,
                size=len(data),
                findings_digest=fdigest,
                seq=seq,
                prev_chain_hash=prev,
                chain_hash=chain,
                provenance={},
            )
            item.save()
            columns = (
                "evidence_id, run_id, assertion_id, resource, status, severity, message, "
                "thresholds, controls, collected_at"
            )
            with db.cursor() as cursor:
                with cursor.cursor.copy(f"COPY evidence_finding ({columns}) FROM STDIN") as copy:
                    for a, res, status, sev, msg, thr in findings:
                        copy.write_row(
                            (
                                item.pk,
                                run.pk,
                                a,
                                res,
                                status,
                                sev,
                                msg,
                                thr,
                                canonical_bytes(CONTROLS[a]).decode(),
                                collected_at,
                            )
                        )
        prev = chain
    ChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "chain_hash": prev})


print(f"database {url}; {args.resources:,} resources x {args.days} daily collections")
t0 = time.perf_counter()
catalogs_load_builtin()
check_mappings_sync_from_registry()
conn = connection_create(name="Bench inventory", collector_key="demo_inventory", params={})
seed(conn)
n_findings = sum(EvidenceItem.objects.values_list("findings_count", flat=True))
print(
    f"seeded {EvidenceItem.objects.count()} evidence items, {n_findings:,} findings "
    f"in {time.perf_counter() - t0:.1f} s"
)
# The findings were written with COPY, past the ingest hook that maintains the daily
# coverage rollup: rebuild it, so the report's coverage section has the year to show.
from pixaudit.posture.rollup import coverage_rebuild  # noqa: E402

t0 = time.perf_counter()
print(f"coverage rollup rebuilt: {coverage_rebuild():,} rows in {time.perf_counter() - t0:.1f} s")

from pixaudit.reports.services import (  # noqa: E402
    pack_build,
    report_render_now,
    report_scope_resolve,
)

today = date.today()
year = report_scope_resolve(
    framework_key="soc2-2017", start=today - timedelta(days=args.days - 1), end=today
)
rss_before = rss_mb()
start = time.perf_counter()
report = report_render_now(scope=year)
render_s = time.perf_counter() - start
assert report.status == "succeeded", report.error_message
print(
    f"render: SOC 2, {year.period.days} days -> {report.page_count} pages, "
    f"{report.size / 1e6:.2f} MB PDF in {render_s:.1f} s (target <= 20 s); "
    f"peak RSS {rss_mb():.0f} MB (before {rss_before:.0f} MB; target <= 1024 MB)"
)

quarter = report_scope_resolve(
    framework_key="soc2-2017", start=today - timedelta(days=90), end=today
)
quarter_report = report_render_now(scope=quarter)
for label, rep in (("quarter", quarter_report), ("year", report)):
    with tempfile.NamedTemporaryFile(suffix=".zip") as fh:
        tracemalloc.start()
        start = time.perf_counter()
        result = pack_build(report=rep, fileobj=fh)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        fh.flush()
        size = os.path.getsize(fh.name)
    print(
        f"pack ({label}): {result.files} files, {result.bytes_in / 1e6:.1f} MB of artifacts "
        f"-> {size / 1e6:.1f} MB ZIP in {seconds:.1f} s; peak Python allocations "
        f"{peak / 1e6:.1f} MB; process peak RSS {rss_mb():.0f} MB"
    )
