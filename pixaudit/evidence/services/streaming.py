"""A collection sorted, evaluated and written row by row: memory flat in the number of rows.

The runner's three passes over a collection, each holding one chunk or one record at a
time (the rest is on disk, :mod:`collectors.spool`):

1. :func:`rows_spool`: the collector's rows are coerced :data:`STREAM_CHUNK` at a time,
   canonicalised once each and added to an external sort (by their canonical bytes, the
   order that makes identical collections identical artifacts). The artifact limit is
   checked as rows come; past it, the rest is only measured, so the error names the size.
2. :func:`document_write`: the sorted rows are spliced into the canonical document (the
   same bytes ``canonical_bytes`` gives for the whole document) and written to a temporary
   file while the SHA-256, the size and the secret scan are computed; the rows are also
   kept in sorted order as a :class:`RecordFile` the assertions read from.
3. :func:`findings_spool`: the assertions run over that file (``iter_findings``, the SDK's
   own evaluation); each finding is written to disk as it comes, counted, scanned for
   secrets and added to the sort the findings digest needs.

The ingest then copies the findings from disk into the database in batches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from collectors import Collector, CollectorError
from collectors.evaluate import finding_from_record, finding_record, iter_findings
from collectors.schema import coerce_chunks
from collectors.spool import RecordFile, SortedSpool, on_disk, temporary_file
from pixaudit.evidence.canonical import CanonicalFormError, canonical_bytes
from pixaudit.evidence.integrity import digest_json, findings_digest
from pixaudit.evidence.storage import artifact_max_bytes, artifact_size_check

__all__ = [
    "SpooledDocument",
    "SpooledFindings",
    "document_write",
    "findings_spool",
    "rows_sorted",
    "rows_spool",
]

_COPY = 64 * 1024
_DIGEST_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Scanner(Protocol):
    """Looks for secret values in bytes fed part by part (the runner's redactor)."""

    found: bool

    def feed(self, part: bytes) -> None: ...


def rows_spool(cls: type[Collector], rows: Iterable[Any]) -> SortedSpool:
    """Coerce the collector's ``rows`` chunk by chunk into an external sort of their
    canonical bytes. Raises ``CollectorError`` (a row that cannot be coerced or has no
    canonical form) or ``ArtifactTooLarge`` (the rows alone pass the limit; the rest is then
    measured without being kept, so the message names the real size)."""
    limit = artifact_max_bytes()
    spool = SortedSpool()
    total, count = 2, 0  # the list's brackets; each row adds its bytes and a comma
    for chunk in coerce_chunks(cls.columns, rows):
        for row in chunk:
            record = row_bytes(row, count)
            total += len(record) + (1 if count else 0)
            count += 1
            if total > limit:
                spool.close()
            else:
                spool.add(record)
    if total > limit:
        artifact_size_check(total, what=f"the evidence of {count:,} rows")
    return spool


def rows_sorted(rows: list[dict[str, Any]]) -> tuple[list[dict], list[bytes]]:
    """The in-memory form of :func:`rows_spool`, for payloads already bounded by the upload
    limit (API pushes): rows sorted by their canonical bytes, and those bytes. Raises
    ``ArtifactTooLarge`` as soon as the rows alone pass ``PIXAUDIT_ARTIFACT_MAX_BYTES`` (it
    then measures the rest without keeping it, so the error names the real size)."""
    limit = artifact_max_bytes()
    keys: list[bytes] = []
    total = 2  # the list's brackets; each row adds its bytes and a comma
    for index, row in enumerate(rows):
        key = row_bytes(row, index)
        total += len(key) + (1 if index else 0)
        if total > limit:
            keys.clear()
            for later, rest in enumerate(rows[index + 1 :], start=index + 1):
                total += len(row_bytes(rest, later)) + 1
            artifact_size_check(total, what=f"the evidence of {len(rows):,} rows")
        keys.append(key)
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return [rows[i] for i in order], [keys[i] for i in order]


def row_bytes(row: Mapping[str, Any], index: int) -> bytes:
    """The canonical bytes of one coerced row (``CollectorError`` naming the row if none)."""
    try:
        return canonical_bytes(row)
    except CanonicalFormError as exc:  # e.g. a set inside a json column
        raise CollectorError(f"row {index}: {exc}", permanent=True) from None


@dataclass
class SpooledDocument:
    """The canonical evidence document in a temporary file, and its sorted rows."""

    file: IO[bytes]
    size: int
    sha256: str
    rows: RecordFile


def document_write(document: dict[str, Any], key: str, spool: SortedSpool,
                   scanner: Scanner) -> SpooledDocument:  # fmt: skip
    """Write ``{**document, key: rows}`` canonically, the rows taken from ``spool`` in
    order, to a temporary file; hash, measure and scan it as it is written."""
    rows = RecordFile(json.loads)
    out = temporary_file("pixaudit-artifact-")
    digest = hashlib.sha256()
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0

    def emit(part: bytes) -> None:
        nonlocal size, pending_bytes
        digest.update(part)
        scanner.feed(part)
        size += len(part)
        pending.append(part)
        pending_bytes += len(part)
        if pending_bytes >= _COPY:
            with on_disk("write"):
                out.write(b"".join(pending))
            pending.clear()
            pending_bytes = 0

    for part in _document_parts(document, key, spool.sorted(), rows):
        emit(part)
    with on_disk("write"):
        out.write(b"".join(pending))
        out.flush()
        out.seek(0)
    artifact_size_check(size)
    return SpooledDocument(file=out, size=size, sha256=digest.hexdigest(), rows=rows)


def _document_parts(document: dict[str, Any], key: str, records: Iterator[bytes],
                    kept: RecordFile) -> Iterator[bytes]:  # fmt: skip
    # The canonical form of a dict: keys sorted, compact; the list under ``key`` spliced
    # from records already canonical (``canonical_parts_with_list`` does the same from a
    # list in memory; the test of this module compares the two).
    if key in document:
        raise ValueError(f"{key!r} is already in the document")
    yield b"{"
    for position, name in enumerate(sorted([*document, key])):
        if position:
            yield b","
        yield canonical_bytes(name) + b":"
        if name != key:
            yield canonical_bytes(document[name])
            continue
        yield b"["
        for index, record in enumerate(records):
            kept.append(record)
            yield b"," + record if index else record
        yield b"]"
    yield b"}"


@dataclass
class SpooledFindings:
    """Every finding of a run on disk, with what the ingest needs computed on the way."""

    findings: RecordFile  # decoded to ``collectors.Finding``
    counts: dict[str, int]
    digest: tuple[str, bool]  # (findings digest, duplicate (assertion, resource) pairs)


def findings_spool(cls: type[Collector], rows: RecordFile, errors: list[dict[str, Any]], *,
                   thresholds: Mapping[str, Mapping[str, Any]] | None,
                   scanner: Scanner) -> SpooledFindings:  # fmt: skip
    """Evaluate the assertions over ``rows`` (on disk) and write each finding to disk.

    The secret scan sees the findings as the canonical list of their dicts would show them;
    the digest is the ingest's (``findings_digest`` of the sorted digest rows), computed
    from an external sort.
    """
    findings = RecordFile(finding_from_record)
    digest_rows = SortedSpool(key=json.loads)
    counts = {"pass": 0, "fail": 0, "warn": 0, "error": 0}
    per_assertion: dict[str, tuple[str, str]] = {}
    scanner.feed(b"[")
    for finding in iter_findings(cls, rows, errors, thresholds=thresholds):
        record = finding_record(finding)
        scanner.feed(b"," + record if len(findings) else record)
        findings.append(record)
        counts[str(finding.status)] += 1
        cached = per_assertion.get(finding.assertion_id)
        if cached is None:
            cached = (digest_json(list(finding.controls)), digest_json(finding.thresholds))
            per_assertion[finding.assertion_id] = cached
        digest_rows.add(
            _DIGEST_ENCODE([finding.assertion_id, finding.resource, str(finding.status),
                            str(finding.severity), finding.message, *cached]).encode("utf-8")
        )  # fmt: skip
    scanner.feed(b"]")
    return SpooledFindings(findings=findings, counts=counts, digest=_digest(digest_rows))


def _digest(spool: SortedSpool) -> tuple[str, bool]:
    """``(findings_digest, has duplicates)`` of sorted digest rows, streamed."""
    duplicates = False
    previous: list[str] | None = None

    def rows() -> Iterator[list[str]]:
        nonlocal duplicates, previous
        for record in spool.sorted():
            row = json.loads(record)
            if previous is not None and previous[:2] == row[:2]:
                duplicates = True
            previous = row
            yield row

    return findings_digest(rows()), duplicates
