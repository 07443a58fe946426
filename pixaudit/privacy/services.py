"""Writes of the data-subject request register, and its snapshot into the evidence chain.

Every change records its audit event and refreshes the evidence in the same transaction
(:func:`privacy_evidence_refresh`; if the evidence cannot be stored, nothing is saved): one
``privacy_requests`` item holding the whole register (reference, kind, dates, status, days
to complete; never notes nor files), evaluated by the collector's assertions like pulled
rows. The daily job refreshes it too, so a request that becomes overdue shows as a FAIL the
next morning without anyone touching the register.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from collectors.evaluate import evaluate_assertions
from collectors.privacy.privacy_requests import PrivacyRequestsCollector
from collectors.schema import coerce_rows, format_datetime
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.manual import UploadRejected, inspect_upload, spool_limited
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.services.append import evidence_append
from pixaudit.evidence.storage import ArtifactStoreError, blob_store
from pixaudit.lib.single_line import control_characters
from pixaudit.privacy.models import DataSubjectRequest, due_days_setting

__all__ = [
    "PrivacyError",
    "privacy_evidence_refresh",
    "privacy_evidence_rows",
    "request_complete",
    "request_create",
    "request_update",
]


class PrivacyError(ValueError):
    """Bad input; ``errors`` maps a field (or ``""``) to a message."""

    def __init__(self, errors: Mapping[str, str] | str):
        self.errors = {"": errors} if isinstance(errors, str) else dict(errors)
        super().__init__("; ".join(self.errors.values()))


def _reference(value: str, errors: dict[str, str], *, exclude: int | None = None) -> str:
    text = (value or "").strip()
    if not text:
        errors["reference"] = "Give the request's reference (e.g. its ticket number)."
    elif found := control_characters(text):
        errors["reference"] = f"Use a single line of text (remove {', '.join(found)})."
    elif len(text) > 64:
        errors["reference"] = (
            "A reference is at most 64 characters: a ticket number, not the request's content."
        )
    elif DataSubjectRequest.objects.filter(reference=text).exclude(pk=exclude).exists():
        errors["reference"] = f"A request with the reference {text} is already recorded."
    return text


def _check(kind: str, received_on: date | None, identity_verified_on: date | None,
           errors: dict[str, str]) -> None:  # fmt: skip
    if kind not in DataSubjectRequest.Kind.values:
        errors["kind"] = (
            "Choose the kind of request (access, rectification, erasure, "
            "portability, objection or restriction)."
        )
    if received_on is None:
        errors["received_on"] = "Give the date the request was received."
    elif received_on > timezone.localdate():
        errors["received_on"] = "The received date cannot be in the future."
    if identity_verified_on and received_on and identity_verified_on < received_on:
        errors["identity_verified_on"] = (
            "Identity cannot be verified before the request was received."
        )


def _fields(request: DataSubjectRequest) -> dict[str, Any]:
    return {"reference": request.reference, "kind": request.kind,
            "received_on": request.received_on, "due_on": request.due_on,
            "identity_verified_on": request.identity_verified_on,
            "completed_on": request.completed_on}  # fmt: skip


def request_create(
    *, reference: str, kind: str, received_on: date | None,
    identity_verified_on: date | None = None, notes: str = "", user: Any = None,
) -> DataSubjectRequest:  # fmt: skip
    """Record a request; its deadline is received_on + ``PIXAUDIT_DSR_DUE_DAYS`` days."""
    errors: dict[str, str] = {}
    reference = _reference(reference, errors)
    _check(kind, received_on, identity_verified_on, errors)
    if errors:
        raise PrivacyError(errors)
    days = due_days_setting()
    with transaction.atomic():
        request = DataSubjectRequest.objects.create(
            reference=reference, kind=kind, received_on=received_on,
            identity_verified_on=identity_verified_on, due_days=days,
            due_on=received_on + timedelta(days=days), notes=(notes or "").strip(),
        )  # fmt: skip
        audit_log_record(actor=user, action="privacy.request_created", obj=request,
                         **_fields(request))  # fmt: skip
        _refresh(user)
    return request


def request_update(
    *, request: DataSubjectRequest, reference: str, kind: str, received_on: date | None,
    identity_verified_on: date | None = None, notes: str = "", user: Any = None,
) -> DataSubjectRequest:  # fmt: skip
    """Correct a request's details; its deadline follows the received date (same days)."""
    errors: dict[str, str] = {}
    reference = _reference(reference, errors, exclude=request.pk)
    _check(kind, received_on, identity_verified_on, errors)
    if request.completed_on and received_on and received_on > request.completed_on:
        errors["received_on"] = (
            f"The request was completed on {request.completed_on}: it "
            "cannot have been received after that."
        )
    if errors:
        raise PrivacyError(errors)
    with transaction.atomic():
        before = _fields(request)
        before_notes = request.notes
        request.reference = reference
        request.kind = kind
        request.received_on = received_on
        request.identity_verified_on = identity_verified_on
        request.due_on = received_on + timedelta(days=request.due_days)
        request.notes = (notes or "").strip()
        request.save()
        after = _fields(request)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        audit_log_record(actor=user, action="privacy.request_updated", obj=request,
                         reference=request.reference, changed=changed,
                         notes_changed=before_notes != request.notes)  # fmt: skip
        _refresh(user)
    return request


def evidence_file_path(sha256: str, extension: str) -> str:
    return f"privacy/requests/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"


def request_complete(
    *, request: DataSubjectRequest, completed_on: date | None, upload: Any, file_name: str,
    user: Any = None,
) -> DataSubjectRequest:  # fmt: skip
    """Mark a request complete with the evidence of completion (a file, checked like manual
    evidence: size limit and type from the content)."""
    errors: dict[str, str] = {}
    if request.completed_on:
        raise PrivacyError(f"{request.reference} was already completed on "
                           f"{request.completed_on}.")  # fmt: skip
    if completed_on is None:
        errors["completed_on"] = "Give the date the request was completed."
    elif completed_on < request.received_on:
        errors["completed_on"] = (
            f"The completion date cannot be before the request was "
            f"received ({request.received_on})."
        )
    elif completed_on > timezone.localdate():
        errors["completed_on"] = "The completion date cannot be in the future."
    if upload is None:
        errors["file"] = "Attach the evidence of completion (the answer sent, the erasure log...)."
    if errors:
        raise PrivacyError(errors)
    try:
        spool, size, sha256 = spool_limited(upload.chunks())
    except UploadRejected as exc:
        raise PrivacyError({"file": str(exc)}) from None
    with spool:
        try:
            check = inspect_upload(spool, name=file_name, size=size, sha256=sha256)
        except UploadRejected as exc:
            raise PrivacyError({"file": str(exc)}) from None
        path = evidence_file_path(check.sha256, check.extension)
        try:
            blob_store(path, spool, sha256=check.sha256, size=check.size)
        except ArtifactStoreError as exc:
            raise PrivacyError({"file": f"The file was not stored: {exc}."}) from exc
    with transaction.atomic():
        request.completed_on = completed_on
        request.completed_by = user if getattr(user, "is_authenticated", False) else None
        request.evidence_file_name = check.file_name
        request.evidence_file_path = path
        request.evidence_sha256 = check.sha256
        request.evidence_content_type = check.content_type
        request.evidence_size = check.size
        request.save()
        audit_log_record(actor=user, action="privacy.request_completed", obj=request,
                         reference=request.reference, completed_on=completed_on,
                         due_on=request.due_on, file_sha256=check.sha256)  # fmt: skip
        _refresh(user)
    return request


def _refresh(user: Any) -> None:
    """Snapshot the register inside the change's transaction: both are kept, or neither."""
    try:
        privacy_evidence_refresh(user=user)
    except ArtifactStoreError as exc:
        raise PrivacyError(f"Nothing was saved: the evidence could not be stored ({exc}).") from exc


def privacy_evidence_rows(today: date | None = None) -> list[dict[str, Any]]:
    """The register as the collector's rows (no notes, no files), sorted by reference."""
    today = today or timezone.localdate()
    return [
        {
            "reference": r.reference,
            "kind": r.kind,
            "received_on": r.received_on,
            "due_on": r.due_on,
            "completed_on": r.completed_on,
            "status": r.status_on(today),
            "days_to_complete": r.days_to_complete,
        }
        for r in DataSubjectRequest.objects.order_by("reference")
    ]


def privacy_evidence_refresh(*, user: Any = None, now: datetime | None = None) -> EvidenceItem:
    """Snapshot the whole register into one ``privacy_requests`` evidence item."""
    now = now or timezone.now()
    cls = PrivacyRequestsCollector
    rows = coerce_rows(cls.columns, privacy_evidence_rows(timezone.localdate(now)))
    findings = evaluate_assertions(cls, rows, [])
    who = getattr(user, "get_username", lambda: "")() if user is not None else ""
    identity = f"register by {who}" if who else "register (daily)"
    document = {
        "collector": {"key": cls.key, "version": cls.version, "title": cls.title},
        "collected_at": format_datetime(now),
        "params": {},
        "identity": identity,
        "api_calls": ["pixaudit:privacy_register"],
        "columns": [{"name": c.name, "dtype": c.dtype, "description": c.description}
                    for c in cls.columns],
        "rows": rows,
        "errors": [],
    }  # fmt: skip
    return evidence_append(
        collector_key=cls.key, document=document, collected_at=now,
        expires_at=now + cls.max_age, findings=findings,
        provenance={"identity": identity, "source": "pixaudit.privacy register"},
        rows_count=len(rows), collector_version=cls.version,
        then=lambda item: audit_log_record(
            actor=user, action="privacy.evidence_refreshed", obj=item, requests=len(rows)),
    )  # fmt: skip
