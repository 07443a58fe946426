"""The evidence hash chain: its definition and its verification.

Definitions (all hashes are lower-case hex SHA-256; ``‖`` is concatenation of the ASCII hex
strings, 192 characters in all)::

    sha256          = SHA-256(artifact bytes)              # canonical JSON, see canonical.py
    findings_digest = SHA-256(canonical_bytes(sorted([assertion_id, resource, status,
                                                      severity, message] for each finding)))
    chain_hash      = SHA-256(prev_chain_hash ‖ sha256 ‖ findings_digest)
    prev_chain_hash = chain_hash of the item with seq - 1; GENESIS_HASH ("0" * 64) for seq 1

Findings are sorted as Python sorts lists of strings (code-point order); the database is
asked for the same order (the "C" collation on PostgreSQL, SQLite's default BINARY), so the
digest is recomputed by streaming. Folding the findings digest into the chain means editing
a single finding row is detected, as is editing an artifact, an item, or dropping an item
(``seq`` must be gap-free and the ``ChainHead`` must match the last item).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import connection as db_connection
from django.db.models import F
from django.db.models.functions import Collate

from pixaudit.evidence.canonical import CanonicalFormError, format_datetime
from pixaudit.evidence.models import GENESIS_HASH, ChainHead, EvidenceItem, Finding, ManualEvidence
from pixaudit.evidence.storage import artifact_exists, artifact_read, artifact_sha256

__all__ = [
    "FINDING_DIGEST_FIELDS",
    "VerifyResult",
    "compute_chain_hash",
    "findings_digest",
    "verify_chain",
]

#: The finding fields covered by ``findings_digest``, in this order.
FINDING_DIGEST_FIELDS = ("assertion_id", "resource", "status", "severity", "message")


def compute_chain_hash(prev_chain_hash: str, sha256: str, findings_digest_hex: str) -> str:
    """``SHA-256(prev_chain_hash ‖ sha256 ‖ findings_digest)`` over the hex strings."""
    text = f"{prev_chain_hash}{sha256}{findings_digest_hex}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def findings_digest(sorted_rows: Iterable[Iterable[str]]) -> str:
    """Digest of findings already sorted in code-point order, streamed in chunks.

    Equal to ``sha256(canonical_bytes(list_of_rows))``: the canonical form of a list is
    ``[`` + the canonical items joined by ``,`` + ``]``, and for a list of strings the
    canonical form is exactly this compact, non-ASCII-preserving ``json.dumps``.
    """
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    digest = hashlib.sha256(b"[")
    chunk: list[str] = []
    started = False
    for row in sorted_rows:
        values = list(row)
        if not all(type(v) is str for v in values):
            raise CanonicalFormError(f"finding digest fields must be strings: {values!r}")
        chunk.append(encode(values))
        if len(chunk) >= 10_000:
            if started:
                digest.update(b",")
            digest.update(",".join(chunk).encode("utf-8"))
            started, chunk = True, []
    if chunk:
        if started:
            digest.update(b",")
        digest.update(",".join(chunk).encode("utf-8"))
    digest.update(b"]")
    return digest.hexdigest()


def _stored_finding_rows(evidence_id: int) -> Iterator[tuple[str, ...]]:
    collation = "C" if db_connection.vendor == "postgresql" else "BINARY"
    ordering = [Collate(F(name), collation) for name in FINDING_DIGEST_FIELDS]
    return (
        Finding.objects.filter(evidence_id=evidence_id)
        .order_by(*ordering)
        .values_list(*FINDING_DIGEST_FIELDS)
        .iterator(chunk_size=5000)
    )


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_chain`: ``problem`` names the first broken link."""

    ok: bool
    count: int
    head: str
    problem: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} items, head {self.head}"
        return f"FAILED after {self.count} good items: {self.problem}"


def _describe(item: EvidenceItem) -> str:
    return (
        f"item seq={item.seq} (id {item.pk}, {item.collector_key}, "
        f"collected {format_datetime(item.collected_at)})"
    )


def _check_item(item: EvidenceItem, prev: str, check_artifacts: bool) -> str | None:
    if item.prev_chain_hash != prev:
        return "chain link broken (prev_chain_hash does not match the previous item)"
    if check_artifacts:
        if not artifact_exists(item.artifact_path):
            return f"artifact missing ({item.artifact_path})"
        if artifact_sha256(item.artifact_path) != item.sha256:
            return "artifact hash mismatch"
    if findings_digest(_stored_finding_rows(item.pk)) != item.findings_digest:
        return "findings digest mismatch (a finding row was changed, added or removed)"
    if compute_chain_hash(prev, item.sha256, item.findings_digest) != item.chain_hash:
        return "chain hash mismatch"
    return None


def _check_manual_files() -> str | None:
    """Each uploaded file must exist and hash to the SHA-256 its chained artifact names."""
    manual = ManualEvidence.objects.select_related("evidence").order_by("evidence__seq")
    for row in manual.iterator(chunk_size=500):
        item = row.evidence
        try:
            chained = json.loads(artifact_read(item.artifact_path))["file"]["sha256"]
        except (KeyError, TypeError, ValueError):
            chained = None
        if chained != row.file_sha256:
            return f"{_describe(item)}: manual evidence file hash differs from the chained one"
        if not artifact_exists(row.file_path):
            return f"{_describe(item)}: manual evidence file missing ({row.file_path})"
        if artifact_sha256(row.file_path) != row.file_sha256:
            return f"{_describe(item)}: manual evidence file hash mismatch ({row.file_path})"
    return None


def verify_chain(*, check_artifacts: bool = True) -> VerifyResult:
    """Walk the chain in ``seq`` order (streaming) and stop at the first broken link; then
    (with ``check_artifacts``) check every uploaded manual evidence file."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    items = (
        EvidenceItem.objects.order_by("seq")
        .only(
            "id",
            "seq",
            "collector_key",
            "collected_at",
            "artifact_path",
            "sha256",
            "findings_digest",
            "prev_chain_hash",
            "chain_hash",
        )
        .iterator(chunk_size=500)
    )
    for item in items:
        if item.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                prev,
                f"{_describe(item)}: seq gap (expected seq={expected_seq}; items removed?)",
            )
        problem = _check_item(item, prev, check_artifacts)
        if problem:
            return VerifyResult(False, count, prev, f"{_describe(item)}: {problem}")
        prev = item.chain_hash
        expected_seq += 1
        count += 1
    head = ChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.chain_hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (count, prev):
        return VerifyResult(
            False,
            count,
            prev,
            f"chain head says seq={head_seq} {head_hash} but the last item is seq={count} "
            f"{prev} (items removed from the end?)",
        )
    if check_artifacts:
        problem = _check_manual_files()
        if problem:
            return VerifyResult(False, count, prev, problem)
    return VerifyResult(True, count, prev)
