"""Manual evidence: validated uploads appended to the evidence chain, and requirements.

``manual_evidence_upload`` streams the upload into a bounded spool (stops at
``PIXAUDIT_MANUAL_MAX_BYTES``), sniffs and checks it (``pixaudit.evidence.manual``), then
appends one ``manual`` EvidenceItem whose canonical artifact describes the file (name,
SHA-256, size, type, dates, owner, controls) and stores the file content-addressed — file,
item and ``ManualEvidence`` row in one transaction (``services.append``).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from pixaudit.controls.models import Control
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.canonical import format_datetime
from pixaudit.evidence.manual import UploadRejected, inspect_upload, spool_limited
from pixaudit.evidence.models import (
    ManualEvidence,
    ManualEvidenceControl,
    ManualKind,
    ManualRecurrence,
    ManualRequirement,
)
from pixaudit.evidence.services.append import Blob, evidence_append
from pixaudit.evidence.storage import ArtifactStoreError

__all__ = [
    "MANUAL_COLLECTOR_KEY",
    "ManualEvidenceError",
    "add_months",
    "manual_evidence_upload",
    "manual_file_path",
    "manual_requirement_remove",
    "manual_requirement_set",
    "recurrence_valid_until",
]

MANUAL_COLLECTOR_KEY = "manual"
RECURRENCE_MONTHS = {
    ManualRecurrence.MONTHLY: 1,
    ManualRecurrence.QUARTERLY: 3,
    ManualRecurrence.SEMIANNUAL: 6,
    ManualRecurrence.YEARLY: 12,
}


class ManualEvidenceError(ValueError):
    """Invalid upload or metadata; ``errors`` maps a field name to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def recurrence_valid_until(effective_on: date, recurrence: str) -> date:
    return add_months(effective_on, RECURRENCE_MONTHS[ManualRecurrence(recurrence)])


def manual_file_path(sha256: str, extension: str) -> str:
    return f"evidence/manual/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"


def _controls(addresses: Iterable[str], errors: dict[str, str]) -> list[Control]:
    controls, problems = [], []
    for address in sorted({a.strip() for a in addresses if a and a.strip()}):
        try:
            control = control_get_by_address(address)
        except Control.DoesNotExist as exc:
            problems.append(str(exc))
            continue
        if not control.assessable or control.is_group:
            problems.append(f"{address} is a group; choose one of its controls")
            continue
        controls.append(control)
    if problems:
        errors["controls"] = "; ".join(problems)
    elif not controls:
        errors["controls"] = "Name at least one control this evidence supports."
    return controls


def _dates(
    effective_on: date | None, valid_until: date | None, recurrence: str, errors: dict[str, str]
) -> date | None:
    today = timezone.now().date()
    if effective_on is None:
        errors["effective_on"] = "Give the date the activity happened."
        return None
    if effective_on > today:
        errors["effective_on"] = "The effective date cannot be in the future."
    if recurrence and recurrence not in RECURRENCE_MONTHS:
        errors["recurrence"] = "Unknown recurrence."
        return None
    if valid_until is None and not recurrence:
        errors["valid_until"] = "Give a valid-until date or a recurrence."
        return None
    until = valid_until or recurrence_valid_until(effective_on, recurrence)
    if until < effective_on:
        errors["valid_until"] = "Valid-until cannot be before the effective date."
    return until


def _chunks(upload: Any) -> Iterable[bytes]:
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
        return
    while chunk := upload.read(64 * 1024):
        yield chunk


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def manual_evidence_upload(
    *,
    upload: Any,
    file_name: str,
    title: str,
    effective_on: date | None,
    control_addresses: Sequence[str],
    user: Any,
    valid_until: date | None = None,
    recurrence: str = "",
    owner: Any = None,
    kind: str = ManualKind.OTHER,
    description: str = "",
) -> ManualEvidence:
    """Validate, store and chain one uploaded file; raise :class:`ManualEvidenceError`."""
    errors: dict[str, str] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = "Give the evidence a title."
    if kind not in ManualKind.values:
        errors["kind"] = "Unknown kind of evidence."
    controls = _controls(control_addresses, errors)
    until = _dates(effective_on, valid_until, recurrence, errors)
    if errors:
        raise ManualEvidenceError(errors)
    try:
        spool, size, sha256 = spool_limited(_chunks(upload))
    except UploadRejected as exc:
        raise ManualEvidenceError({"file": str(exc)}) from None
    with spool:
        try:
            check = inspect_upload(spool, name=file_name, size=size, sha256=sha256)
        except UploadRejected as exc:
            raise ManualEvidenceError({"file": str(exc)}) from None
        try:
            return _append(spool, check, title, description, kind, effective_on, until,
                           recurrence, owner or user, user, controls)  # fmt: skip
        except ArtifactStoreError as exc:
            # Not the uploader's fault, but they must know it was not kept.
            raise ManualEvidenceError({"storage": f"The file was not stored: {exc}."}) from exc


def _append(spool, check, title, description, kind, effective_on, until, recurrence, owner,
            user, controls) -> ManualEvidence:  # fmt: skip
    now = timezone.now()
    addresses = [c.address for c in controls]
    path = manual_file_path(check.sha256, check.extension)
    document = {
        "kind": "manual_evidence",
        "title": title,
        "description": description,
        "evidence_kind": kind,
        "file": {
            "name": check.file_name,
            "sha256": check.sha256,
            "size": check.size,
            "content_type": check.content_type,
        },
        "effective_on": effective_on,
        "valid_until": until,
        "recurrence": recurrence,
        "owner": owner.get_username() if owner else None,
        "uploaded_by": user.get_username() if user else None,
        "uploaded_at": format_datetime(now),
        "controls": addresses,
    }
    created: list[ManualEvidence] = []

    def _row(item) -> None:
        created.append(
            ManualEvidence.objects.create(
                evidence=item,
                title=title,
                description=description,
                kind=kind,
                file_name=check.file_name,
                content_type=check.content_type,
                size=check.size,
                file_sha256=check.sha256,
                file_path=path,
                effective_on=effective_on,
                valid_until=until,
                recurrence=recurrence,
                owner=owner,
                uploaded_by=user,
                uploaded_at=now,
                control_addresses=addresses,
            )  # fmt: skip
        )
        ManualEvidenceControl.objects.bulk_create(
            [ManualEvidenceControl(manual=created[-1], control=c) for c in controls]
        )
        _audit(user, "manual_evidence.upload", created[-1], sha256=check.sha256)

    evidence_append(
        collector_key=MANUAL_COLLECTOR_KEY,
        document=document,
        collected_at=now,
        effective_at=_midnight(effective_on),
        expires_at=_midnight(until + timedelta(days=1)),
        rows_count=1,
        provenance={"uploaded_by": document["uploaded_by"], "file_sha256": check.sha256},
        blobs=[Blob(path, spool, sha256=check.sha256, size=check.size)],
        then=_row,
    )
    return created[0]


def _audit(user: Any, action: str, obj: Any, **details: Any) -> None:
    from pixaudit.auditlog.services import audit_log_record

    audit_log_record(actor=user, action=action, obj=obj, **details)


def manual_requirement_set(*, control: Control, reason: str, user: Any) -> ManualRequirement:
    """Flag ``control`` as needing current manual evidence (idempotent)."""
    with transaction.atomic():
        requirement, _ = ManualRequirement.objects.update_or_create(
            control=control, defaults={"reason": (reason or "").strip(), "created_by": user}
        )
        _audit(user, "manual_requirement.set", control, reason=requirement.reason)
    return requirement


def manual_requirement_remove(*, control: Control, user: Any) -> bool:
    with transaction.atomic():
        deleted, _ = ManualRequirement.objects.filter(control=control).delete()
        if deleted:
            _audit(user, "manual_requirement.remove", control)
    return bool(deleted)
