"""The evidence hash chain: its definition and its verification.

Each item records the ``digest_version`` it was chained with; items keep verifying with the
formula of their version, so upgrading never breaks an existing chain. All hashes are
lower-case hex SHA-256. ``prev_chain_hash`` is the ``chain_hash`` of the item with
``seq - 1`` (``GENESIS_HASH``, ``"0" * 64``, for seq 1); ``sha256`` is the SHA-256 of the
artifact's bytes (canonical JSON, see canonical.py).

Version 1 (items written before version 2 existed; ``‖`` joins the ASCII hex strings)::

    findings_digest = SHA-256(canonical_bytes(sorted([assertion_id, resource, status,
                                                      severity, message] for each finding)))
    chain_hash      = SHA-256(prev_chain_hash ‖ sha256 ‖ findings_digest)

Version 1 does not cover the item's times, source, run or sizes, nor a finding's controls
and thresholds: those could be edited in the database unnoticed.

Version 2 (every item written now) covers every stored field that decides what an auditor
sees::

    findings_digest = SHA-256(canonical_bytes(sorted([assertion_id, resource, status,
                        severity, message, canonical(controls), canonical(thresholds)]
                        for each finding)))
    chain_hash      = SHA-256(canonical_bytes({
                        "digest_version": 2, "prev_chain_hash": …, "item": {seq, run_id,
                        connection_id, collector_key, collector_version, pixaudit_version,
                        collected_at, effective_at, expires_at, row_count, findings_count,
                        size, artifact_path, sha256, findings_digest, provenance}}))

and each finding's ``collected_at`` and ``run_id`` must equal its item's (checked while the
digest streams: identical findings of two runs still have identical digests). Times are in
the canonical UTC form; JSON values (controls, thresholds, provenance) are
canonicalised with integral floats written as integers (PostgreSQL's jsonb returns ``1e16``
as ``10000000000000000``, so the digest must not depend on that spelling). Only
``created_at`` (when the row was inserted, which no page or report uses to select evidence)
is left out.

Findings are sorted as Python sorts lists of strings (code-point order); the database is
asked for the same order on the first five fields (the "C" collation on PostgreSQL, SQLite's
default BINARY) and ties are sorted in Python, so the digest is recomputed by streaming.
Editing an artifact, an item, one finding row, or dropping an item is detected (``seq``
must be gap-free, the ``ChainHead`` must match the last item, and versions never go back
from 2 to 1). Removing the last items *and* rewriting the head is only detected against a
signed checkpoint (``pixaudit.evidence.checkpoints``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection as db_connection
from django.db.models import F
from django.db.models.functions import Collate

from pixaudit.evidence.canonical import CanonicalFormError, canonical_bytes, format_datetime
from pixaudit.evidence.models import GENESIS_HASH, ChainHead, EvidenceItem, Finding, ManualEvidence
from pixaudit.evidence.storage import artifact_exists, artifact_read, artifact_sha256

__all__ = [
    "DIGEST_VERSION",
    "FINDING_DIGEST_FIELDS",
    "VerifyResult",
    "compute_chain_hash",
    "compute_chain_hash_v2",
    "digest_json",
    "finding_digest_row",
    "findings_digest",
    "item_chain_hash",
    "item_findings_digest",
    "verify_chain",
]

#: The digest version every new item is chained with (see the module docstring).
DIGEST_VERSION = 2

#: The finding fields covered by ``findings_digest`` in version 1, in this order (version 2
#: appends controls and thresholds).
FINDING_DIGEST_FIELDS = ("assertion_id", "resource", "status", "severity", "message")
_FINDING_DIGEST_FIELDS_V2 = (*FINDING_DIGEST_FIELDS, "controls", "thresholds")


def compute_chain_hash(prev_chain_hash: str, sha256: str, findings_digest_hex: str) -> str:
    """Version 1: ``SHA-256(prev_chain_hash ‖ sha256 ‖ findings_digest)`` over the hex strings."""
    text = f"{prev_chain_hash}{sha256}{findings_digest_hex}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        # The exact decimal the float's shortest repr names, as PostgreSQL's numeric keeps it.
        return int(Decimal(repr(value)))
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_integral_floats_as_ints(v) for v in value]
    return value


def digest_json(value: Any) -> str:
    """The canonical text of a JSON value as the version-2 digests see it."""
    return canonical_bytes(_integral_floats_as_ints(value)).decode("utf-8")


def finding_digest_row(
    *,
    assertion_id: str,
    resource: str,
    status: str,
    severity: str,
    message: str,
    controls: Any,
    thresholds: Any,
) -> list[str]:
    """One finding as the version-2 findings digest sees it."""
    return [
        assertion_id, resource, str(status), str(severity), message, digest_json(list(controls)),
        digest_json(thresholds),
    ]  # fmt: skip


def _item_document(item: EvidenceItem, prev_chain_hash: str) -> dict[str, Any]:
    return {
        "digest_version": 2,
        "prev_chain_hash": prev_chain_hash,
        "item": {
            "seq": item.seq,
            "run_id": item.run_id,
            "connection_id": item.connection_id,
            "collector_key": item.collector_key,
            "collector_version": item.collector_version,
            "pixaudit_version": item.pixaudit_version,
            "collected_at": format_datetime(item.collected_at),
            "effective_at": format_datetime(item.effective_at),
            "expires_at": format_datetime(item.expires_at),
            "row_count": item.row_count,
            "findings_count": item.findings_count,
            "size": item.size,
            "artifact_path": item.artifact_path,
            "sha256": item.sha256,
            "findings_digest": item.findings_digest,
            "provenance": _integral_floats_as_ints(item.provenance),
        },
    }


def compute_chain_hash_v2(item: EvidenceItem, prev_chain_hash: str) -> str:
    """Version 2: the SHA-256 of the canonical document of the item's fields (see above)."""
    return hashlib.sha256(canonical_bytes(_item_document(item, prev_chain_hash))).hexdigest()


def item_chain_hash(item: EvidenceItem, prev_chain_hash: str) -> str:
    """The chain hash of ``item`` by the formula of its ``digest_version``."""
    if item.digest_version == 1:
        return compute_chain_hash(prev_chain_hash, item.sha256, item.findings_digest)
    if item.digest_version == 2:
        return compute_chain_hash_v2(item, prev_chain_hash)
    raise ValueError(f"unknown digest version {item.digest_version!r}")


class _FindingOutOfPlace(Exception):
    """A finding's run or collection time is not its item's."""


def item_findings_digest(item: EvidenceItem) -> str:
    """Recompute the findings digest of a stored item (streaming, by its digest version).

    For version 2, a finding whose ``collected_at`` or ``run_id`` is not its item's yields
    ``"!"`` and the reason, which equals no digest.
    """
    if item.digest_version == 1:
        return findings_digest(_stored_finding_rows(item.pk))
    try:
        return findings_digest(_stored_finding_rows_v2(item))
    except _FindingOutOfPlace as exc:
        return f"!{exc}"


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
        if len(chunk) >= 1_000:  # bounded: the rows may come from a spool on disk
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


def _stored_finding_rows_v2(item: EvidenceItem) -> Iterator[list[str]]:
    """Version-2 rows in code-point order: the database orders by the first five fields,
    rows equal on those (one assertion and resource twice with the same result) are sorted
    here on the rest. Raises ``_FindingOutOfPlace`` for a finding of another time or run."""
    group: list[list[str]] = []
    for *values, collected_at, run_id in _stored_finding_values(item.pk):
        if collected_at != item.collected_at or run_id != item.run_id:
            raise _FindingOutOfPlace(
                f"a finding's collection time or run ({format_datetime(collected_at)}, run "
                f"{run_id}) is not its item's"
            )
        row = finding_digest_row(**dict(zip(_FINDING_DIGEST_FIELDS_V2, values, strict=True)))
        if group and group[0][:5] != row[:5]:
            yield from sorted(group)
            group = []
        group.append(row)
    yield from sorted(group)


def _stored_finding_values(evidence_id: int) -> Iterator[tuple[Any, ...]]:
    collation = "C" if db_connection.vendor == "postgresql" else "BINARY"
    ordering = [Collate(F(name), collation) for name in FINDING_DIGEST_FIELDS]
    return (
        Finding.objects.filter(evidence_id=evidence_id)
        .order_by(*ordering)
        .values_list(*_FINDING_DIGEST_FIELDS_V2, "collected_at", "run_id")
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
    if item.digest_version not in (1, 2):
        return f"unknown digest version {item.digest_version!r}"
    if check_artifacts:
        if not artifact_exists(item.artifact_path):
            return f"artifact missing ({item.artifact_path})"
        if artifact_sha256(item.artifact_path) != item.sha256:
            return "artifact hash mismatch"
    digest = item_findings_digest(item)
    if digest.startswith("!"):
        return f"findings digest mismatch ({digest[1:]}: the item or a finding was changed)"
    if digest != item.findings_digest:
        return "findings digest mismatch (a finding row was changed, added or removed)"
    if item_chain_hash(item, prev) != item.chain_hash:
        if item.digest_version == 1:
            return "chain hash mismatch"
        return (
            "chain hash mismatch (a field of the item was changed: times, source, run, "
            "sizes or provenance)"
        )
    return None


def _manual_row_differences(row: ManualEvidence, document: dict[str, Any]) -> list[str]:
    """The fields of an upload's row that disagree with its chained artifact.

    The row is what pages, posture ("manual pending" reads ``valid_until``) and packs show;
    the artifact is what the chain seals. (Owner and uploader are compared by neither: a
    user may be renamed; the chained artifact keeps the names of the time.)
    """
    chained_file = document.get("file") or {}
    expected = {
        "title": (row.title, document.get("title")),
        "description": (row.description, document.get("description")),
        "kind": (row.kind, document.get("evidence_kind")),
        "file name": (row.file_name, chained_file.get("name")),
        "file SHA-256": (row.file_sha256, chained_file.get("sha256")),
        "file size": (row.size, chained_file.get("size")),
        "content type": (row.content_type, chained_file.get("content_type")),
        "effective date": (row.effective_on.isoformat(), document.get("effective_on")),
        "valid until": (row.valid_until.isoformat(), document.get("valid_until")),
        "recurrence": (row.recurrence, document.get("recurrence")),
        "upload time": (format_datetime(row.uploaded_at), document.get("uploaded_at")),
        "controls": (sorted(row.control_addresses), sorted(document.get("controls") or [])),
    }
    differences = [name for name, (stored, chained) in expected.items() if stored != chained]
    linked = sorted(
        f"{framework}:{ref}"
        for framework, ref in row.control_links.values_list(
            "control__framework__key", "control__ref"
        )
    )
    if linked != sorted(document.get("controls") or []):
        differences.append("control links")
    return differences


def _check_manual_files() -> str | None:
    """Each upload's row must agree with its chained artifact, and its file must exist and
    hash to the SHA-256 that artifact names."""
    manual = ManualEvidence.objects.select_related("evidence").order_by("evidence__seq")
    for row in manual.iterator(chunk_size=500):
        item = row.evidence
        try:
            document = json.loads(artifact_read(item.artifact_path))
            chained = document["file"]["sha256"]
        except (KeyError, TypeError, ValueError):
            document, chained = {}, None
        if chained != row.file_sha256:
            return f"{_describe(item)}: manual evidence file hash differs from the chained one"
        differences = _manual_row_differences(row, document)
        if differences:
            return (
                f"{_describe(item)}: manual evidence row differs from its chained artifact "
                f"({', '.join(differences)})"
            )
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
    version_2_since = 0
    items = EvidenceItem.objects.order_by("seq").defer("created_at").iterator(chunk_size=500)
    for item in items:
        if item.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                prev,
                f"{_describe(item)}: seq gap (expected seq={expected_seq}; items removed?)",
            )
        if item.digest_version >= 2 and not version_2_since:
            version_2_since = item.seq
        if item.digest_version < 2 and version_2_since:
            return VerifyResult(
                False,
                count,
                prev,
                f"{_describe(item)}: digest version 1 after version-2 items (since seq="
                f"{version_2_since}): an item was rewritten with the weaker formula",
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


def verify_chain_since(*, seq: int, chain_hash: str) -> VerifyResult:
    """Check that the item at ``seq`` still has ``chain_hash`` (a signed checkpoint's) and
    that every later item links and recomputes, up to the head (without reading artifacts).

    What a checkpoint write checks before signing a new head: a chain rewritten at or
    before the last checkpoint is never signed again.
    """
    anchor = EvidenceItem.objects.filter(seq=seq).values_list("chain_hash", flat=True).first()
    if anchor != chain_hash:
        found = "no item" if anchor is None else f"chain hash {anchor}"
        return VerifyResult(
            False, 0, chain_hash, f"seq={seq} has {found}, the last checkpoint says {chain_hash}"
        )
    prev, expected_seq, count = chain_hash, seq + 1, 0
    items = EvidenceItem.objects.filter(seq__gt=seq).order_by("seq").defer("created_at")
    for item in items.iterator(chunk_size=500):
        if item.seq != expected_seq:
            return VerifyResult(False, count, prev, f"{_describe(item)}: seq gap")
        if item.digest_version < DIGEST_VERSION:
            return VerifyResult(False, count, prev, f"{_describe(item)}: old digest version")
        problem = _check_item(item, prev, check_artifacts=False)
        if problem:
            return VerifyResult(False, count, prev, f"{_describe(item)}: {problem}")
        prev, expected_seq, count = item.chain_hash, expected_seq + 1, count + 1
    return VerifyResult(True, count, prev)
