"""Auditors' test results per sampled item, with an optional attached file.

A result is append-only (``SampleResult``): recording a new one for the same item keeps the
old one in the history and becomes the item's result. An attached file gets exactly the
checks manual evidence gets (``pixaudit.evidence.manual``: the size limit counted while the
bytes stream in, the type sniffed from the bytes and matched against the name, OOXML
packages opened only as far as needed to refuse bombs and disguised archives), then is
stored content-addressed under ``audits/samples/sha256/``. Bad input raises
``ValidationError`` naming the field; nothing is stored then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest

from pixaudit.accounts.models import User
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits.models import Sample, SampleOutcome, SampleResult
from pixaudit.evidence.manual import UploadRejected, inspect_upload, spool_limited
from pixaudit.evidence.storage import ArtifactStoreError, blob_store

__all__ = ["NOTE_MAX", "sample_result_file_path", "sample_result_record"]

logger = logging.getLogger("pixaudit.audits")
NOTE_MAX = 4000


def sample_result_file_path(sha256: str, extension: str) -> str:
    return f"audits/samples/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"


def _chunks(upload: Any) -> Iterable[bytes]:
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
        return
    while chunk := upload.read(64 * 1024):
        yield chunk


def _check(sample: Sample, position: int, outcome: str, note: str) -> None:
    errors: dict[str, str] = {}
    if not 1 <= position <= len(sample.items):
        errors["position"] = f"Choose an item between 1 and {len(sample.items)}."
    if outcome not in SampleOutcome.values:
        errors["outcome"] = "Choose passed or exception."
    if outcome == SampleOutcome.EXCEPTION and not note:
        errors["note"] = "Describe the exception."
    if len(note) > NOTE_MAX:
        errors["note"] = f"Keep the note under {NOTE_MAX} characters."
    if errors:
        raise ValidationError(errors)


def _referenced(path: str) -> bool:
    return SampleResult.objects.filter(file_path=path).exists()


def sample_result_record(
    *,
    sample: Sample,
    position: int,
    outcome: str,
    note: str,
    actor: User,
    upload: Any = None,
    file_name: str = "",
    request: HttpRequest | None = None,
) -> SampleResult:
    """Record the result of item ``position`` (1-based, draw order) of ``sample``."""
    note = (note or "").strip()
    _check(sample, position, outcome, note)
    file_fields: dict[str, Any] = {}
    created = ""
    spool = None
    if upload is not None:
        try:
            spool, size, sha256 = spool_limited(_chunks(upload))
            check = inspect_upload(spool, name=file_name or "upload", size=size, sha256=sha256)
        except UploadRejected as exc:
            if spool is not None:
                spool.close()
            raise ValidationError({"file": str(exc)}) from None
        path = sample_result_file_path(check.sha256, check.extension)
        file_fields = {
            "file_name": check.file_name, "content_type": check.content_type,
            "file_size": check.size, "file_sha256": check.sha256, "file_path": path,
        }  # fmt: skip
    try:
        with transaction.atomic():
            if spool is not None:
                try:
                    outcome_store = blob_store(
                        file_fields["file_path"], spool,
                        sha256=file_fields["file_sha256"], size=file_fields["file_size"],
                    )  # fmt: skip
                except ArtifactStoreError as exc:
                    raise ValidationError({"file": f"The file was not stored: {exc}."}) from exc
                if outcome_store == "created":
                    created = file_fields["file_path"]
            result = SampleResult.objects.create(
                sample=sample, position=position, outcome=outcome, note=note,
                recorded_by=actor, **file_fields,
            )  # fmt: skip
            item = sample.items[position - 1]
            audit_log_record(
                actor=actor, action="sample.result_recorded", obj=result, request=request,
                engagement_id=sample.engagement_id, sample_id=sample.pk, position=position,
                item_index=item.get("index"), outcome=outcome,
                file_sha256=file_fields.get("file_sha256", ""),
            )  # fmt: skip
    except BaseException:
        if created and not _referenced(created):
            try:
                default_storage.delete(created)
            except Exception:  # an orphan file is harmless; never mask the first error
                logger.exception("could not remove %s after a failed sample result", created)
        raise
    finally:
        if spool is not None:
            spool.close()
    return result
