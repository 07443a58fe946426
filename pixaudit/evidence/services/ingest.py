"""Append one collection to the evidence store: item, findings, latest state, in one transaction.

Appends are serialised by the ``ChainHead`` row: the first statement of the transaction is
an UPDATE of that row, which takes PostgreSQL's row lock and SQLite's database write lock,
so two workers finishing at once append one after the other and the chain never forks.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from collectors import Collector
from collectors.base import Finding as SdkFinding
from pixaudit.evidence.canonical import canonical_bytes
from pixaudit.evidence.integrity import (
    DIGEST_VERSION,
    compute_chain_hash_v2,
    digest_json,
    findings_digest,
)
from pixaudit.evidence.models import (
    GENESIS_HASH,
    ChainHead,
    CollectionRun,
    Connection,
    EvidenceItem,
    Finding,
    LatestResult,
    RunStatus,
    RunTrigger,
)
from pixaudit.evidence.services.connections import connection_next_run_at
from pixaudit.evidence.storage import artifact_size_check, artifact_store, data_size

__all__ = [
    "RunNotRunning",
    "chain_append_locked",
    "chain_lock",
    "evidence_ingest",
    "evidence_post_ingest",
    "finding_counts",
    "worker_name",
]

logger = logging.getLogger("pixaudit.evidence.ingest")

_BATCH = 5000
_FINDING_COLUMNS = (
    "evidence_id", "run_id", "assertion_id", "resource", "status", "severity", "message",
    "thresholds", "controls", "collected_at",
)  # fmt: skip


class RunNotRunning(Exception):
    """The run is no longer ``running`` (e.g. the stale sweep failed it): nothing stored."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def finding_counts(findings: Sequence[SdkFinding]) -> dict[str, int]:
    counts = Counter(str(f.status) for f in findings)
    return {s: counts.get(s, 0) for s in ("pass", "fail", "warn", "error")}


def _digest_of(findings: Sequence[SdkFinding]) -> tuple[str, bool]:
    """``(findings_digest, has duplicate (assertion, resource) pairs)``, digest version 2."""
    # Controls and thresholds are the same for every finding of one assertion: their
    # canonical text is computed once per assertion.
    per_assertion: dict[str, tuple[str, str]] = {}
    rows = []
    for f in findings:
        cached = per_assertion.get(f.assertion_id)
        if cached is None:
            cached = (digest_json(list(f.controls)), digest_json(f.thresholds))
            per_assertion[f.assertion_id] = cached
        rows.append([f.assertion_id, f.resource, str(f.status), str(f.severity), f.message,
                     cached[0], cached[1]])  # fmt: skip
    rows.sort()
    duplicates = any(a[:2] == b[:2] for a, b in zip(rows, rows[1:], strict=False))
    return findings_digest(rows), duplicates


def _finding_rows(item: EvidenceItem, run: CollectionRun, findings: Sequence[SdkFinding]):
    # Thresholds and controls are the same for every finding of one assertion in one run:
    # serialise them once per assertion, not once per finding.
    json_cache: dict[str, tuple[str, str]] = {}
    for f in findings:
        cached = json_cache.get(f.assertion_id)
        if cached is None:
            cached = (
                canonical_bytes(f.thresholds).decode("utf-8"),
                json.dumps(list(f.controls)),
            )
            json_cache[f.assertion_id] = cached
        yield (
            item.pk, run.pk, f.assertion_id, f.resource, str(f.status), str(f.severity),
            f.message, cached[0], cached[1], item.collected_at,
        )  # fmt: skip


def _insert_findings_copy(item, run, findings) -> None:
    """PostgreSQL: COPY is several times faster than multi-row INSERT for large batches."""
    table = Finding._meta.db_table
    columns = ", ".join(_FINDING_COLUMNS)
    with db_connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in _finding_rows(item, run, findings):
                copy.write_row(row)


def _insert_findings_orm(item, run, findings) -> None:
    batch: list[Finding] = []
    for row in _finding_rows(item, run, findings):
        values = dict(zip(_FINDING_COLUMNS, row, strict=True))
        values["thresholds"] = json.loads(values["thresholds"])
        values["controls"] = json.loads(values["controls"])
        batch.append(Finding(**values))
        if len(batch) >= _BATCH:
            Finding.objects.bulk_create(batch, batch_size=_BATCH)
            batch = []
    if batch:
        Finding.objects.bulk_create(batch, batch_size=_BATCH)


# One statement on both backends (window functions and ON CONFLICT exist in PostgreSQL and in
# SQLite >= 3.25). When a run has several findings for one (assertion, resource) the worst
# status is kept (ranking costs a sort, so it is only done when the ingest saw duplicates).
# last_changed_at moves only when the status changes; first_seen_at is kept.
_PLAIN_SOURCE = "SELECT * FROM {finding} WHERE evidence_id = %s"
_RANKED_SOURCE = """
SELECT * FROM (
    SELECT f.*, ROW_NUMBER() OVER (
        PARTITION BY assertion_id, resource
        ORDER BY CASE status WHEN 'error' THEN 0 WHEN 'fail' THEN 1 WHEN 'warn' THEN 2
                 ELSE 3 END, id
    ) AS pixaudit_rank
    FROM {finding} f WHERE evidence_id = %s
) ranked WHERE pixaudit_rank = 1
"""
_UPSERT_LATEST = """
INSERT INTO {latest} (assertion_id, resource, collector_key, connection_id, status, severity,
                      message, controls, evidence_id, run_id, collected_at, first_seen_at,
                      last_changed_at)
SELECT assertion_id, resource, %s, %s, status, severity, message, controls, evidence_id, NULL,
       collected_at, collected_at, collected_at
FROM ({source}) AS source
WHERE true
ON CONFLICT {target} DO UPDATE SET
    collector_key = excluded.collector_key,
    status = excluded.status,
    severity = excluded.severity,
    message = excluded.message,
    controls = excluded.controls,
    evidence_id = excluded.evidence_id,
    collected_at = excluded.collected_at,
    last_changed_at = CASE WHEN {latest}.status = excluded.status
                           THEN {latest}.last_changed_at ELSE excluded.collected_at END
"""
# The conflict targets name the two partial unique indexes of LatestResult (see its Meta):
# current state is keyed by connection, so one connection never overwrites another's rows.
_TARGET_CONNECTION = "(assertion_id, resource, connection_id) WHERE connection_id IS NOT NULL"
_TARGET_NO_CONNECTION = "(assertion_id, resource) WHERE connection_id IS NULL"


def _upsert_latest(item: EvidenceItem, *, duplicates: bool, sweep: bool = True) -> None:
    source = _RANKED_SOURCE if duplicates else _PLAIN_SOURCE
    sql = _UPSERT_LATEST.format(
        source=source.format(finding=Finding._meta.db_table),
        latest=LatestResult._meta.db_table,
        target=_TARGET_NO_CONNECTION if item.connection_id is None else _TARGET_CONNECTION,
    )
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [item.collector_key, item.connection_id, item.pk])
    if not sweep:
        return
    # Resources this connection's collector no longer reports are gone from current state,
    # and so are its run-failure rows (evidence null): this run succeeded.
    gone = LatestResult.objects.filter(collector_key=item.collector_key)
    if item.connection_id is None:
        gone = gone.filter(connection__isnull=True)
    else:
        gone = gone.filter(connection_id=item.connection_id)
    gone.filter(Q(evidence__isnull=True) | ~Q(evidence_id=item.pk)).delete()


def _lock_chain(now: datetime) -> ChainHead:
    # UPDATE first: it is what takes the lock on SQLite (a SELECT would only take a read lock
    # and fail on upgrade under contention). The row may be missing after a test flush.
    if not ChainHead.objects.filter(pk=1).update(updated_at=now):
        ChainHead.objects.get_or_create(pk=1)
        ChainHead.objects.filter(pk=1).update(updated_at=now)
    return ChainHead.objects.select_for_update().get(pk=1)


def chain_lock() -> ChainHead:
    """Take the chain's append lock (call inside ``transaction.atomic``); returns the head.

    Everything done in the same transaction afterwards is serialised with every other append
    (collections, manual uploads, access reviews).
    """
    return _lock_chain(timezone.now())


def chain_append_locked(
    *,
    head: ChainHead,
    run: CollectionRun,
    connection_id: int | None,
    collector_key: str,
    collector_version: int,
    sha256: str,
    artifact_path: str,
    size: int,
    collected_at: datetime,
    effective_at: datetime,
    expires_at: datetime,
    rows_count: int,
    findings: Sequence[SdkFinding],
    provenance: dict[str, Any],
    sweep_latest: bool = True,
    digest: tuple[str, bool] | None = None,
) -> EvidenceItem:
    """Append one item + its findings + the latest state, under the lock :func:`chain_lock`
    took in the current transaction. The one implementation of "append to the chain".

    ``sweep_latest`` removes current results of the same collector and connection that this
    item no longer reports (a collection is a full picture; an access review is not).
    """
    findings_hex, duplicates = digest if digest is not None else _digest_of(findings)
    last = EvidenceItem.objects.order_by("-seq").values_list("seq", "chain_hash").first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    item = EvidenceItem(
        run=run,
        connection_id=connection_id,
        collector_key=collector_key,
        collector_version=int(collector_version),
        pixaudit_version=settings.PIXAUDIT_VERSION,
        collected_at=collected_at,
        effective_at=effective_at,
        expires_at=expires_at,
        row_count=rows_count,
        findings_count=len(findings),
        sha256=sha256,
        artifact_path=artifact_path,
        size=size,
        findings_digest=findings_hex,
        seq=seq,
        prev_chain_hash=prev,
        digest_version=DIGEST_VERSION,
        provenance=provenance,
    )
    item.chain_hash = compute_chain_hash_v2(item, prev)
    item.save()
    if findings:
        if db_connection.vendor == "postgresql":
            _insert_findings_copy(item, run, findings)
        else:
            _insert_findings_orm(item, run, findings)
    _upsert_latest(item, duplicates=duplicates, sweep=sweep_latest)
    head.seq, head.chain_hash = item.seq, item.chain_hash
    head.save(update_fields=["seq", "chain_hash", "updated_at"])
    return item


def evidence_ingest(
    *,
    run: CollectionRun,
    cls: type[Collector],
    data: bytes | list[bytes] | IO[bytes],
    sha256: str,
    collected_at: datetime,
    rows_count: int,
    findings: Sequence[SdkFinding],
    provenance: dict[str, Any],
    effective_at: datetime | None = None,
    size: int | None = None,
    digest: tuple[str, bool] | None = None,
    counts: dict[str, int] | None = None,
) -> EvidenceItem:
    """Store the artifact, then append item + findings + latest state and finish the run.

    Everything after the artifact write happens in one transaction: a failure leaves no
    item, no finding and no change to the latest state (at most an unreferenced artifact).
    ``data`` may be a file (then ``size`` is given); ``digest`` and ``counts``, when the
    caller computed them on the way (the runner's spooled findings), are not recomputed.
    """
    size = data_size(data) if size is None else size
    artifact_size_check(size)
    path = artifact_store(data, sha256, size=size)
    # Sorting and hashing the findings happens before the lock is taken.
    digest = digest or _digest_of(findings)
    counts = counts or finding_counts(findings)
    with transaction.atomic():
        head = chain_lock()
        # Compare-and-set under the run's row lock: a run the stale sweep already failed
        # (its retry may be running) must not append, nor turn back into "succeeded".
        if not (
            CollectionRun.objects.select_for_update()
            .filter(pk=run.pk, status=RunStatus.RUNNING)
            .exists()
        ):
            raise RunNotRunning(f"run {run.pk} is no longer running")
        item = chain_append_locked(
            head=head,
            run=run,
            connection_id=run.connection_id,
            collector_key=cls.key,
            collector_version=int(cls.version),
            sha256=sha256,
            artifact_path=path,
            size=size,
            collected_at=collected_at,
            effective_at=effective_at or collected_at,
            expires_at=collected_at + cls.max_age,
            rows_count=rows_count,
            findings=findings,
            provenance=provenance,
            digest=digest,
        )
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.rows_count = rows_count
        run.findings_pass = counts["pass"]
        run.findings_fail = counts["fail"]
        run.findings_warn = counts["warn"]
        run.findings_error = counts["error"]
        run.error_message = ""
        run.error_permanent = False
        run.save()
        if run.connection_id and run.trigger != RunTrigger.PUSH:  # a push connection is never due
            conn = Connection.objects.get(pk=run.connection_id)
            Connection.objects.filter(pk=conn.pk).update(
                next_run_at=connection_next_run_at(connection=conn, after=run.finished_at)
            )
    return item


def evidence_post_ingest(*, item: EvidenceItem) -> None:
    """Run the hooks of ``settings.PIXAUDIT_POST_INGEST_HOOKS`` for a committed item.

    Called by the runner after a collection's ingest committed, by the push endpoint after
    a push, and by ``append.evidence_append`` once an appended item's transaction commits
    (never inside them, so a hook can neither slow the append nor lose the evidence). Each
    hook is a dotted path to a callable taking ``item=``; a failing hook is logged and the
    others still run.
    """
    for path in getattr(settings, "PIXAUDIT_POST_INGEST_HOOKS", ()):
        try:
            import_string(path)(item=item)
        except Exception:
            logger.exception("post-ingest hook %s failed for evidence seq=%s", path, item.seq)
