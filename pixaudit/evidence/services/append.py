"""Append evidence that no collector produced (manual uploads, access review outcomes).

Same chain, same lock, same storage as collections: :func:`evidence_append` canonicalises a
document, takes the chain lock, stores the artifact (and any attached files) content-addressed,
appends the item with ``ingest.chain_append_locked`` and runs ``then(item)`` — all in one
transaction. Files are written under the lock, so a failure can remove exactly the files this
call created without racing another append of the same bytes: nothing is left half-stored.

Once the transaction commits (the outermost one, when the caller holds its own), the
post-ingest hooks run for the item exactly as after a collection
(``ingest.evidence_post_ingest``: remediation tasks and notifications, the exceptions
register, the coverage rollup, access-review follow-ups): never under the chain lock, never
for an append that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from collectors.base import Finding as SdkFinding
from pixaudit.evidence.canonical import canonical_bytes, sha256_hex
from pixaudit.evidence.models import CollectionRun, EvidenceItem, RunStatus, RunTrigger
from pixaudit.evidence.services.checkpoints import chain_checkpoint_if_due
from pixaudit.evidence.services.ingest import (
    chain_append_locked,
    chain_lock,
    evidence_post_ingest,
    finding_counts,
    worker_name,
)
from pixaudit.evidence.storage import artifact_path, artifact_size_check, blob_store

__all__ = ["Blob", "evidence_append"]

logger = logging.getLogger("pixaudit.evidence.append")


@dataclass(frozen=True)
class Blob:
    """A file to store with the item, at a content-addressed ``name``, read from ``source``
    (whose SHA-256 and size the caller computed while receiving it)."""

    name: str
    source: IO[bytes]
    sha256: str
    size: int


def _store(name: str, source, sha256: str, size: int, created: list[str]) -> None:
    # An existing object is reused only when its bytes verify; a corrupt one is repaired
    # (and is not "created": after a failure it stays, it may be referenced).
    if blob_store(name, source, sha256=sha256, size=size) == "created":
        created.append(name)


def _referenced(name: str) -> bool:
    from pixaudit.evidence.models import ManualEvidence

    return (
        EvidenceItem.objects.filter(artifact_path=name).exists()
        or ManualEvidence.objects.filter(file_path=name).exists()
    )


def _remove_created(created: list[str]) -> None:
    """Delete files this call wrote, unless (after a commit failure) something uses them."""
    if not created:
        return
    try:
        with transaction.atomic():
            chain_lock()
            for name in created:
                if not _referenced(name):
                    default_storage.delete(name)
    except Exception:  # never mask the original error; an orphan is harmless
        logger.exception("could not remove files of a failed append: %s", created)


def _checkpoint_if_due() -> None:
    try:
        chain_checkpoint_if_due()
    except Exception:  # the evidence is committed; the periodic job retries the checkpoint
        logger.exception("could not write a chain checkpoint after an append")


def _post_ingest(item: EvidenceItem) -> None:
    try:
        evidence_post_ingest(item=item)
    except Exception:  # each hook logs its own failure; the evidence is committed anyway
        logger.exception("post-ingest hooks failed for appended evidence seq=%s", item.seq)


def evidence_append(
    *,
    collector_key: str,
    document: dict[str, Any],
    collected_at: datetime,
    expires_at: datetime,
    effective_at: datetime | None = None,
    findings: Sequence[SdkFinding] = (),
    provenance: dict[str, Any] | None = None,
    rows_count: int = 0,
    collector_version: int = 1,
    connection_id: int | None = None,
    blobs: Sequence[Blob] = (),
    then: Callable[[EvidenceItem], Any] | None = None,
) -> EvidenceItem:
    """Append one non-collected evidence item to THE chain; return it.

    A succeeded ``CollectionRun`` (trigger ``manual``, no connection) records who/what
    appended it, since every item belongs to a run; that pair marks appended evidence, whose
    results merge into current state (a collection replaces its source's rows), and
    ``verify_evidence`` replays it so. ``then(item)`` runs inside the same
    transaction (e.g. to create the ``ManualEvidence`` row); the post-ingest hooks run once
    the outermost transaction commits. If anything fails, nothing is
    stored: no item, no finding, no row, no file written by this call. A storage failure
    raises ``storage.ArtifactStoreError`` (its message says why and that nothing was
    stored); an artifact above ``PIXAUDIT_ARTIFACT_MAX_BYTES`` ``storage.ArtifactTooLarge``.
    """
    data = canonical_bytes(document)
    artifact_size_check(len(data))
    sha256 = sha256_hex(data)
    counts = finding_counts(findings)
    created: list[str] = []
    try:
        with transaction.atomic():
            head = chain_lock()
            for blob in blobs:
                _store(blob.name, blob.source, blob.sha256, blob.size, created)
            path = artifact_path(sha256)
            _store(path, data, sha256, len(data), created)
            now = timezone.now()
            run = CollectionRun.objects.create(
                collector_key=collector_key,
                status=RunStatus.SUCCEEDED,
                trigger=RunTrigger.MANUAL,
                started_at=now,
                finished_at=now,
                rows_count=rows_count,
                findings_pass=counts["pass"],
                findings_fail=counts["fail"],
                findings_warn=counts["warn"],
                findings_error=counts["error"],
                worker=worker_name(),
            )
            item = chain_append_locked(
                head=head,
                run=run,
                connection_id=connection_id,
                collector_key=collector_key,
                collector_version=collector_version,
                sha256=sha256,
                artifact_path=path,
                size=len(data),
                collected_at=collected_at,
                effective_at=effective_at or collected_at,
                expires_at=expires_at,
                rows_count=rows_count,
                findings=findings,
                provenance=provenance or {},
                # Not a full picture of a source: results of other resources stay current.
                sweep_latest=False,
            )
            if then is not None:
                then(item)
            # Once committed: a signed checkpoint of the head, if one is due, then the
            # post-ingest hooks (tasks, notifications, exceptions, coverage), as after a
            # collection: outside the chain lock, and not at all if the caller rolls back.
            transaction.on_commit(_checkpoint_if_due)
            transaction.on_commit(lambda: _post_ingest(item))
    except BaseException:
        _remove_created(created)
        raise
    return item
