"""The runner's row-by-row passes (pixaudit.evidence.services.streaming): same bytes, same
digest as the whole-document forms, and memory that does not grow with the population."""

from __future__ import annotations

import gc
import json
import random
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

import collectors.spool
from collectors import CollectionContext, Collector, Column, Param, Severity, Status
from collectors.base import Finding, Outcome, assertion
from collectors.spool import SortedSpool
from pixaudit.evidence import storage as storage_module
from pixaudit.evidence.canonical import canonical_bytes
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.models import Finding as StoredFinding
from pixaudit.evidence.services import collection_run_create, collection_run_execute
from pixaudit.evidence.services import ingest as ingest_module
from pixaudit.evidence.services.ingest import _digest_of
from pixaudit.evidence.services.streaming import _digest, document_write
from pixaudit.evidence.storage import artifact_read


class _NoScan:
    found = False

    def feed(self, part: bytes) -> None:
        pass


def test_the_streamed_document_is_the_canonical_document(settings):
    rng = random.Random(7)
    rows = [
        {"name": f"r-{rng.randint(0, 99999):05d}", "note": rng.choice(["é", "\n", '"', ""]),
         "size": rng.choice([None, 1, 2.5, -0.5]), "tags": {"b": [1, "x"], "a": None}}
        for _ in range(500)
    ]  # fmt: skip
    spool = SortedSpool(run_bytes=2000)  # many runs on disk
    for row in rows:
        spool.add(canonical_bytes(row))
    head = {"collector": {"key": "k", "version": 1}, "errors": [], "z": "last", "a": 1}
    written = document_write(dict(head), "rows", spool, _NoScan())
    data = written.file.read()
    expected = {**head, "rows": sorted(rows, key=canonical_bytes)}
    assert data == canonical_bytes(expected)
    assert written.size == len(data) and len(written.rows) == 500
    assert list(written.rows) == json.loads(data)["rows"]


def test_the_streamed_digest_is_the_ingest_digest():
    # Strings whose JSON text orders differently from their code points ("a!" < "a" as
    # JSON, "a" < "a!" as strings), non-ASCII, and one duplicate (assertion, resource).
    findings = [
        Finding("x.a", resource, Status(status), Severity.HIGH, message, {"t": 1}, ("c:1",))
        for resource, status, message in [
            ("a!", "pass", "ok"), ("a", "fail", "é"), ("a", "pass", "dup"), ("b\\", "warn", "q"),
            ("ä", "error", '"quoted"'), ("A", "pass", ""),
        ]
    ]  # fmt: skip
    from pixaudit.evidence.integrity import digest_json

    spool = SortedSpool(key=json.loads, run_bytes=100)
    for f in findings:
        fields = [f.assertion_id, f.resource, str(f.status), str(f.severity), f.message,
                  digest_json(list(f.controls)), digest_json(f.thresholds)]  # fmt: skip
        spool.add(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode())
    assert spool.runs > 1
    assert _digest(spool) == _digest_of(findings) and _digest_of(findings)[1] is True


class _Population(Collector):
    """A generated population of ``count`` rows (memory test)."""

    key = "testsrc_population"
    title = "Generated population"
    params = (Param("count", "integer", default=10, help="Rows."),)
    permissions = ("test:List",)
    columns = (
        Column("name", "string", "Resource name."),
        Column("owner", "string", "Owner."),
        Column("encrypted", "boolean", "Encrypted."),
        Column("detail", "json", "Detail."),
    )
    resource_column = "name"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> Iterator[dict[str, Any]]:
        ctx.record_call("test:List")
        pad = "x" * 200
        for i in range(ctx.params["count"]):
            # Rows yielded in an order that is not the sorted one.
            n = (i * 7919) % ctx.params["count"]
            yield {"name": f"resource-{n:07d}", "owner": f"team-{n % 13}",
                   "encrypted": n >= 50, "detail": {"path": f"/data/{n}/{pad}"}}  # fmt: skip

    @assertion("testsrc_population.encrypted", title="Encrypted", severity=Severity.HIGH,
               remediation="Encrypt it.", controls=("soc2-2017:CC6.1",))  # fmt: skip
    def encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        verdict = Status.PASS if row["encrypted"] else Status.FAIL
        return Outcome(verdict, f"{row['name']} of {row['owner']}: encrypted={row['encrypted']}.")

    @assertion("testsrc_population.owned", title="Owned", severity=Severity.LOW,
               remediation="Own it.", controls=("soc2-2017:CC6.1",), per="table")  # fmt: skip
    def owned(rows, params: dict[str, Any]) -> Iterator[Outcome]:
        teams = {row["owner"] for row in rows}
        yield Outcome(Status.PASS, f"{len(rows)} resources owned by {len(teams)} teams.")


def _run_traced(count: int) -> tuple[int, Any]:
    run = collection_run_create(collector_key=_Population.key, params={"count": count},
                                trigger="cli")  # fmt: skip
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    run = collection_run_execute(run_id=run.pk)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert run.status == "succeeded", run.error_message
    return peak, run


@pytest.mark.django_db
def test_memory_does_not_grow_with_the_population(monkeypatch, media_root, field_keys):
    from collectors import registry

    # Small runs, blocks, batches and copy chunks, so both sizes are many of them: what is
    # left growing is what the runner keeps per row, not buffers that fill up to their size.
    monkeypatch.setattr(collectors.spool, "RUN_BYTES", 64 * 1024)
    monkeypatch.setattr(collectors.spool, "_BLOCK", 4 * 1024)
    monkeypatch.setattr(ingest_module, "_BATCH", 500)
    monkeypatch.setattr(storage_module, "_CHUNK", 64 * 1024)
    with registry.temporarily(_Population):
        _run_traced(200)  # warm-up: imports, query compilation, first-time caches
        small_peak, _ = _run_traced(2000)
        large_peak, run = _run_traced(6000)
    per_row = (large_peak - small_peak) / 4000
    print(f"peaks {small_peak:,} / {large_peak:,}: {per_row:.0f} bytes per row")
    # Everything of the run is stored: rows, findings, the table verdict over all rows.
    item = EvidenceItem.objects.get(run=run)
    document = json.loads(artifact_read(item.artifact_path))
    assert len(document["rows"]) == 6000
    assert document["rows"] == sorted(document["rows"], key=canonical_bytes)
    assert StoredFinding.objects.filter(run=run).count() == 6001
    assert run.findings_fail == 50 and run.findings_pass == 5951
    table = StoredFinding.objects.get(run=run, assertion_id="testsrc_population.owned")
    assert table.message == "6000 resources owned by 13 teams."
    # Kept per row: its offsets in two record files (16 bytes) and allocator slack. Holding
    # the rows and findings (the runner before) cost about 2,500 bytes per row. The failing
    # resources (50 at both sizes) each cost an exception and a task entry: not growth here.
    assert per_row < 100, f"{per_row:.0f} bytes per row (peaks {small_peak:,} / {large_peak:,})"


@pytest.mark.django_db
def test_no_room_for_temporary_files_fails_the_run_clearly(monkeypatch, media_root, field_keys,
                                                           tmp_path):  # fmt: skip
    import tempfile

    from collectors import registry

    missing = tmp_path / "no-such-dir"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    with registry.temporarily(_Population):
        run = collection_run_create(collector_key=_Population.key, params={"count": 5000},
                                    trigger="cli")  # fmt: skip
        run = collection_run_execute(run_id=run.pk)
    assert run.status == "failed" and not run.error_permanent and run.error_kind == "storage"
    assert run.error_message.startswith(f"could not create a temporary file in {missing} (")
    assert "nothing was stored" in run.error_message and "TMPDIR" in run.error_message
    assert EvidenceItem.objects.count() == 0 and StoredFinding.objects.count() == 0
