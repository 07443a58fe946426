"""Write signed checkpoints of the chain head to the artifact store (see ``checkpoints``).

``chain_checkpoint_write`` signs the current head and stores it; it is called by
``chain_checkpoint_if_due`` after each collection (a post-ingest hook), after manual and
access-review appends, and by the periodic evidence job, at most every
``PIXAUDIT_CHECKPOINT_MINUTES`` while the head moves, and by ``manage.py chain_checkpoint``.

Before signing, the chain is checked from the last checkpoint to the head (links, hashes,
findings; not the artifacts): a chain rewritten at or before the last checkpoint is never
signed again; the write is refused with :class:`CheckpointRefused` instead.

Under S3 with ``PIXAUDIT_CHECKPOINT_LOCK_DAYS`` the object is written with Object Lock
retention (``PIXAUDIT_CHECKPOINT_LOCK_MODE``, compliance by default), so not even the
bucket's owner can delete or overwrite it before the date; the bucket must have Object Lock
enabled.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from pixaudit.evidence.canonical import canonical_bytes, format_datetime
from pixaudit.evidence.checkpoints import (
    CHECKPOINT_DIR,
    CHECKPOINT_TYPE,
    checkpoint_envelope,
    checkpoint_problem,
    checkpoint_read,
    public_key_from_pem,
)
from pixaudit.evidence.integrity import verify_chain_since
from pixaudit.evidence.models import ChainCheckpoint, EvidenceItem
from pixaudit.evidence.services.ingest import chain_lock
from pixaudit.evidence.storage import ArtifactStoreError, blob_store, data_sha256
from pixaudit.reports.signing import public_key_fingerprint, public_key_pem, sign
from pixaudit.reports.verify import fingerprint_parse

__all__ = [
    "CheckpointRefused",
    "chain_checkpoint_after_ingest",
    "chain_checkpoint_if_due",
    "chain_checkpoint_write",
]

logger = logging.getLogger("pixaudit.evidence.checkpoints")


class CheckpointRefused(Exception):
    """The chain does not extend the last signed checkpoint: nothing is signed."""


def _last_checkpoint() -> ChainCheckpoint | None:
    return ChainCheckpoint.objects.order_by("-seq", "-created_at").first()


def _due(last: ChainCheckpoint | None, now: datetime) -> bool:
    """The head moved past ``last`` (the caller checked) and ``last`` is old enough."""
    interval = timedelta(minutes=settings.PIXAUDIT_CHECKPOINT_MINUTES)
    return last is None or now - last.created_at >= interval


def _check_extends(last: ChainCheckpoint) -> None:
    """The chain must still carry the last checkpoint's hash and extend it soundly."""
    # The anchor comes from the signed file (signature checked), not from the database row.
    try:
        checkpoint = checkpoint_read(last.name)
    except FileNotFoundError:
        raise CheckpointRefused(
            f"the last checkpoint {last.name} is missing from the store; run "
            "`manage.py verify_evidence` and investigate before signing a new head"
        ) from None
    problem = checkpoint_problem(checkpoint, [public_key_from_pem(public_key_pem())])
    if problem:
        raise CheckpointRefused(f"the last checkpoint {last.name} cannot be trusted: {problem}")
    result = verify_chain_since(seq=checkpoint.seq, chain_hash=checkpoint.chain_hash)
    if not result.ok:
        raise CheckpointRefused(
            f"the chain does not extend the last signed checkpoint ({last.name}): "
            f"{result.problem}; run `manage.py verify_evidence` and investigate"
        )


def _lock_retention(now: datetime) -> tuple[str, datetime] | None:
    days = settings.PIXAUDIT_CHECKPOINT_LOCK_DAYS
    if not days:
        return None
    return settings.PIXAUDIT_CHECKPOINT_LOCK_MODE.upper(), now + timedelta(days=days)


def _store(name: str, data: bytes, lock: tuple[str, datetime] | None) -> None:
    if lock is None:
        blob_store(name, data, sha256=data_sha256(data), size=len(data))
        return
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name

    storage = default_storage
    if not isinstance(storage, S3Storage):
        raise ArtifactStoreError(
            "PIXAUDIT_CHECKPOINT_LOCK_DAYS needs the S3 artifact store (PIXAUDIT_S3_BUCKET)"
        )
    mode, until = lock
    params = storage.get_object_parameters(name)  # e.g. ServerSideEncryption
    params.pop("ContentType", None)
    try:
        storage.connection.meta.client.put_object(
            Bucket=storage.bucket_name,
            Key=storage._normalize_name(clean_name(name)),
            Body=data,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",  # Object Lock requires an integrity checksum
            ObjectLockMode=mode,
            ObjectLockRetainUntilDate=until,
            **params,
        )
    except Exception as exc:  # botocore raises many types; all mean "not stored"
        raise ArtifactStoreError(f"could not store {name}: {exc}") from exc


def chain_checkpoint_write(
    *, force: bool = True, now: datetime | None = None
) -> ChainCheckpoint | None:
    """Sign the current chain head and store it; return the checkpoint (``None`` when there
    is nothing new to sign, or, unless ``force``, when the last one is younger than the
    interval).

    Runs under the chain lock, so the signed head is the committed head and no append
    interleaves. Raises :class:`CheckpointRefused` when the chain does not extend the last
    checkpoint, ``ArtifactStoreError`` when the store refuses the file.
    """
    now = now or timezone.now()
    with transaction.atomic():
        chain_lock()
        head = EvidenceItem.objects.order_by("-seq").values("seq", "chain_hash", "digest_version")
        head = head.first()
        last = _last_checkpoint()
        head_seq = head["seq"] if head else 0
        if last is not None and head_seq <= last.seq:
            # Nothing new to sign; but a chain that no longer reaches or carries the last
            # checkpoint is an alarm (the periodic job fails loudly until it is resolved).
            if head_seq < last.seq:
                raise CheckpointRefused(
                    f"the chain ends at seq={head_seq}, before the last signed checkpoint "
                    f"({last.name}, seq={last.seq}): items were removed; run `manage.py "
                    "verify_evidence` and investigate"
                )
            _check_extends(last)
            return None
        if head_seq == 0 or (not force and not _due(last, now)):
            return None
        if last is not None:
            _check_extends(last)
        # 64 hex digits, as checkpoints.public_key_pem_fingerprint computes them (the published
        # form is the same digits behind "SHA256:").
        fingerprint = fingerprint_parse(public_key_fingerprint())
        document: dict[str, Any] = {
            "type": CHECKPOINT_TYPE,
            "format": 1,
            "organisation": settings.PIXAUDIT_ORG_NAME,
            "seq": head_seq,
            "chain_hash": head["chain_hash"],
            "digest_version": head["digest_version"],
            "created_at": format_datetime(now),
            "key_fingerprint": fingerprint,
        }
        signature = sign(canonical_bytes(document))
        pem = public_key_pem()
        name = f"{CHECKPOINT_DIR}/{head_seq:012d}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
        lock = _lock_retention(now)
        _store(name, checkpoint_envelope(document, signature, pem), lock)
        checkpoint = ChainCheckpoint(
            seq=head_seq,
            chain_hash=head["chain_hash"],
            created_at=now,
            name=name,
            key_fingerprint=fingerprint,
            locked_until=lock[1] if lock else None,
        )
        checkpoint.save()
        from pixaudit.auditlog.services import audit_log_record

        audit_log_record(
            action="evidence.checkpoint_sign", obj=checkpoint, seq=head_seq,
            chain_hash=head["chain_hash"], name=name, key_fingerprint=fingerprint,
            locked_until=checkpoint.locked_until,
        )  # fmt: skip
    logger.info("signed chain checkpoint seq=%s (%s)", head_seq, name)
    return checkpoint


def chain_checkpoint_if_due() -> ChainCheckpoint | None:
    """Write a checkpoint when the head moved and the last one is older than the interval."""
    return chain_checkpoint_write(force=False)


def chain_checkpoint_after_ingest(*, item: EvidenceItem) -> None:
    """Post-ingest hook (``PIXAUDIT_POST_INGEST_HOOKS``): a checkpoint if one is due."""
    chain_checkpoint_if_due()
