"""Writes of the vendor register. Every function records its audit event and, in the same
transaction, appends the register as ``vendor_register`` evidence
(:func:`register_evidence_append`), so the chain always holds the register as it stood after
each change; the daily job appends it again (verdicts move with the calendar) and sends
reminders.

The evidence item is a collector-like document: typed columns (:data:`register.COLUMNS`,
:data:`register.INCIDENT_COLUMNS`), the rows, the SHA-256 of every file on record, and the
findings of the four assertions (:mod:`pixaudit.vendors.register`), which are mapped to
CC9.2 and A.5.19-A.5.22 as system mapping overrides (like the leaver test's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from collectors.schema import coerce_rows, format_datetime
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import CheckMapping, Control, MappingOverride
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.manual import UploadRejected, inspect_upload, spool_limited
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.services.append import evidence_append
from pixaudit.evidence.storage import ArtifactStoreError, file_save_atomic
from pixaudit.lib.single_line import control_characters
from pixaudit.vendors import register, selectors
from pixaudit.vendors.importing import RegisterFileError, parse_register
from pixaudit.vendors.models import (
    Criticality,
    ReportKind,
    Vendor,
    VendorFile,
    VendorIncident,
    VendorSettings,
)

__all__ = [
    "EDITABLE",
    "REMINDER_DAYS",
    "VendorError",
    "incident_add",
    "incident_handle",
    "register_evidence_append",
    "register_import",
    "register_mappings_ensure",
    "vendor_delete",
    "vendor_file_add",
    "vendor_reminders_send",
    "vendor_save",
    "vendor_settings_set",
]

#: Reminders go out this many days before a DPA or report expires or a review is due.
REMINDER_DAYS = 30
MAPPING_REASON = "Vendor register (pixaudit.vendors): DPAs, independent reports, reviews."
EDITABLE = (
    "name", "purpose", "data_categories", "criticality", "is_processor", "is_subprocessor",
    "subprocessors", "dpa_signed_on", "dpa_version", "dpa_expires_on", "report_kind",
    "report_issuer", "report_period_start", "report_period_end", "report_expires_on",
    "last_review_on", "next_review_on", "notes",
)  # fmt: skip


class VendorError(ValueError):
    """Bad input; ``errors`` maps a field (or ``""``) to a message; ``lines`` lists the rows
    of a refused import as (line, column, message)."""

    def __init__(self, errors: Mapping[str, str] | str,
                 lines: Iterable[tuple[int, str, str]] = ()) -> None:  # fmt: skip
        self.errors = {"": errors} if isinstance(errors, str) else dict(errors)
        self.lines = list(lines)
        super().__init__("; ".join(self.errors.values()))


def _actor(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _json(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value


def _validate(data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean = {k: data.get(k) for k in EDITABLE if k in data}
    for name in ("name", "purpose", "dpa_version", "report_issuer"):
        text = str(clean.get(name) or "").strip()
        if found := control_characters(text):
            errors[name] = f"Use a single line of text (remove {', '.join(found)})."
        clean[name] = text
    for name in ("name", "purpose"):
        if not clean[name]:
            errors[name] = "This field is required."
    if clean.get("criticality") not in Criticality.values:
        errors["criticality"] = f"Choose one of {', '.join(Criticality.values)}."
    if (clean.get("report_kind") or "") not in ReportKind.values:
        errors["report_kind"] = "Choose a SOC 2 Type II report, an ISO 27001 certificate or none."
    clean["report_kind"] = clean.get("report_kind") or ""
    clean["notes"] = str(clean.get("notes") or "").strip()
    for name in ("data_categories", "subprocessors"):
        items = [str(i).strip() for i in clean.get(name) or [] if str(i).strip()]
        if any(control_characters(i) for i in items):
            errors[name] = "One name per item, on a single line."
        clean[name] = items
    start, end = clean.get("report_period_start"), clean.get("report_period_end")
    if start and end and end < start:
        errors["report_period_end"] = f"The period ends ({end}) before it starts ({start})."
    if (clean.get("dpa_version") or clean.get("dpa_expires_on")) and not clean.get("dpa_signed_on"):
        errors["dpa_signed_on"] = "Give the date the DPA was signed."
    if errors:
        raise VendorError(errors)
    return clean


# --- the register ---------------------------------------------------------------------------


def vendor_save(*, data: Mapping[str, Any], vendor: Vendor | None = None, user: Any = None,
                request: Any = None) -> Vendor:  # fmt: skip
    """Create a vendor (``vendor`` None) or update it; the audit event names what changed."""
    clean = _validate(data)
    with transaction.atomic():
        if (
            Vendor.objects.filter(name__iexact=clean["name"])
            .exclude(pk=vendor.pk if vendor else None)
            .exists()
        ):
            raise VendorError({"name": f"A vendor named {clean['name']!r} already exists."})
        created = vendor is None
        vendor = vendor or Vendor()
        before = {k: _json(getattr(vendor, k)) for k in clean}
        for key, value in clean.items():
            setattr(vendor, key, value)
        vendor.updated_by = _actor(user)
        vendor.save()
        changed = sorted(k for k in clean if before[k] != _json(getattr(vendor, k)))
        audit_log_record(actor=user, request=request,
                         action="vendor.created" if created else "vendor.updated", obj=vendor,
                         name=vendor.name, fields=changed,
                         previous=None if created else {k: before[k] for k in changed})  # fmt: skip
        register_evidence_append(user=user, reason=f"vendor {vendor.name} saved")
    return vendor


def vendor_delete(*, vendor: Vendor, user: Any = None, request: Any = None) -> None:
    """Remove a vendor from the register (its files stay in storage, named by the audit)."""
    with transaction.atomic():
        files = [{"file_name": f.file_name, "sha256": f.sha256} for f in vendor.files.all()]
        audit_log_record(actor=user, request=request, action="vendor.deleted", obj=vendor,
                         name=vendor.name, files=files)  # fmt: skip
        name = vendor.name
        vendor.delete()
        register_evidence_append(user=user, reason=f"vendor {name} removed")


def _chunks(upload: Any) -> Iterable[bytes]:
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
    else:
        yield upload.read()


def vendor_file_add(*, vendor: Vendor, kind: str, upload: Any, file_name: str, user: Any = None,
                    request: Any = None) -> VendorFile:  # fmt: skip
    """Validate a file like manual evidence (size, sniffed type, safe archives) and keep it
    with the vendor; a DPA or report becomes the vendor's current one."""
    if kind not in VendorFile.Kind.values:
        raise VendorError({"kind": "Choose what the file is: the signed DPA, a report or other."})
    if upload is None:
        raise VendorError({"file": "Choose a file."})
    try:
        spool, size, sha256 = spool_limited(_chunks(upload))
    except UploadRejected as exc:
        raise VendorError({"file": str(exc)}) from None
    with spool:
        try:
            check = inspect_upload(spool, name=file_name, size=size, sha256=sha256)
        except UploadRejected as exc:
            raise VendorError({"file": str(exc)}) from None
        path = f"vendors/files/{sha256[:2]}/{sha256}.{check.extension}"
        try:
            path = file_save_atomic(path, spool.read())
        except ArtifactStoreError as exc:
            raise VendorError({"file": f"The file was not stored: {exc}."}) from exc
    with transaction.atomic():
        record = VendorFile.objects.create(
            vendor=vendor, kind=kind, file_name=check.file_name, content_type=check.content_type,
            size=size, sha256=sha256, path=path, uploaded_by=_actor(user),
        )  # fmt: skip
        if kind == VendorFile.Kind.DPA:
            vendor.dpa_file = record
        elif kind == VendorFile.Kind.REPORT:
            vendor.report_file = record
        vendor.updated_by = _actor(user)
        vendor.save()
        audit_log_record(actor=user, request=request, action="vendor.file_added",
                         obj=vendor, kind=kind, file_name=check.file_name, sha256=sha256,
                         size=size)  # fmt: skip
        register_evidence_append(user=user, reason=f"{kind} file of {vendor.name} added")
    return record


def incident_add(*, vendor: Vendor, notified_on: date, notify_by: date, description: str,
                 occurred_on: date | None = None, handled_on: date | None = None,
                 user: Any = None, request: Any = None) -> VendorIncident:  # fmt: skip
    """Record an incident the vendor notified us of, with our notification deadline."""
    description = (description or "").strip()
    errors = {}
    if not description:
        errors["description"] = "Say what happened."
    elif found := control_characters(description):
        errors["description"] = f"Use a single line of text (remove {', '.join(found)})."
    if occurred_on and notified_on and occurred_on > notified_on:
        errors["occurred_on"] = "The incident cannot happen after the vendor notified it."
    if notify_by and notified_on and notify_by < notified_on:
        errors["notify_by"] = "Our deadline cannot be before the vendor notified us."
    if errors:
        raise VendorError(errors)
    with transaction.atomic():
        incident = VendorIncident.objects.create(
            vendor=vendor, notified_on=notified_on, occurred_on=occurred_on, notify_by=notify_by,
            handled_on=handled_on, description=description, created_by=_actor(user),
        )  # fmt: skip
        audit_log_record(actor=user, request=request, action="vendor.incident_added",
                         obj=vendor, incident=incident.pk, notified_on=notified_on,
                         notify_by=notify_by, handled_on=handled_on)  # fmt: skip
        register_evidence_append(user=user, reason=f"incident of {vendor.name} recorded")
    return incident


def incident_handle(*, incident: VendorIncident, handled_on: date, user: Any = None,
                    request: Any = None) -> VendorIncident:  # fmt: skip
    """Record when we handled (notified on) a vendor's incident."""
    if handled_on < incident.notified_on:
        raise VendorError({"handled_on": "It cannot be handled before the vendor notified it."})
    with transaction.atomic():
        previous = incident.handled_on
        incident.handled_on = handled_on
        incident.save(update_fields=["handled_on"])
        audit_log_record(actor=user, request=request, action="vendor.incident_handled",
                         obj=incident.vendor, incident=incident.pk, handled_on=handled_on,
                         previous=previous, notify_by=incident.notify_by)  # fmt: skip
        register_evidence_append(user=user, reason=f"incident of {incident.vendor.name} handled")
    return incident


def register_import(*, filename: str, data: bytes, user: Any = None,
                    request: Any = None) -> dict[str, int]:  # fmt: skip
    """Import a CSV/XLSX register: every row is validated first and any bad row refuses the
    whole file (``VendorError.lines`` names each line and column); nothing is stored then.
    Vendors are matched by name (case-insensitive): updated (or left alone when the row
    says nothing new), else created; files and incidents already on record are kept."""
    try:
        rows = parse_register(data, filename or "")
    except RegisterFileError as exc:
        raise VendorError(
            {"file": f"{filename}: the file was not used; nothing was stored."}, exc.errors
        ) from None
    with transaction.atomic():
        existing = {v.name.casefold(): v for v in Vendor.objects.select_for_update()}
        new: list[Vendor] = []
        changed: list[Vendor] = []
        unchanged = 0
        for row in rows:
            values = {k: row[k] for k in EDITABLE if k in row}
            vendor = existing.get(row["name"].casefold())
            if vendor is None:
                new.append(Vendor(**values, updated_by=_actor(user)))
                continue
            if all(getattr(vendor, k) == v for k, v in values.items()):
                unchanged += 1
                continue
            for key, value in values.items():
                setattr(vendor, key, value)
            vendor.updated_by = _actor(user)
            changed.append(vendor)
        Vendor.objects.bulk_create(new, batch_size=500)
        # One UPDATE per changed vendor: bulk_update's CASE per field and row measured 16 s
        # for 1,000 changed rows (benchmarks/bench_vendors.py); this 3.9 s, evidence included.
        now = timezone.now()
        for vendor in changed:
            Vendor.objects.filter(pk=vendor.pk).update(
                **{k: getattr(vendor, k) for k in EDITABLE}, updated_by=vendor.updated_by,
                updated_at=now,
            )  # fmt: skip
        created, updated = len(new), len(changed)
        digest = hashlib.sha256(data).hexdigest()
        audit_log_record(actor=user, request=request, action="vendor.imported",
                         obj="vendor register", filename=filename, sha256=digest,
                         created=created, updated=updated, unchanged=unchanged)  # fmt: skip
        register_evidence_append(user=user, reason=f"register imported from {filename}")
    return {"created": created, "updated": updated, "unchanged": unchanged}


def vendor_settings_set(*, publish_subprocessors: bool, user: Any = None,
                        request: Any = None) -> VendorSettings:  # fmt: skip
    """Opt in (or out) of the public sub-processor list on the trust page."""
    with transaction.atomic():
        record, _ = VendorSettings.objects.select_for_update().get_or_create(pk=1)
        previous = record.publish_subprocessors
        record.publish_subprocessors = bool(publish_subprocessors)
        record.updated_by = _actor(user)
        record.save()
        audit_log_record(actor=user, request=request, action="vendor.public_list_changed",
                         obj=record, publish_subprocessors=record.publish_subprocessors,
                         previous=previous)  # fmt: skip
    return record


# --- evidence ---------------------------------------------------------------------------------


def register_mappings_ensure() -> int:
    """Map the register's assertions to their controls (once; never over a decision)."""
    added = 0
    for assertion_id in register.ASSERTIONS:
        for address in register.CONTROLS[assertion_id]:
            try:
                control = control_get_by_address(address)
            except Control.DoesNotExist:
                continue
            if (CheckMapping.objects.filter(assertion_id=assertion_id, control=control).exists()
                    or MappingOverride.objects.filter(assertion_id=assertion_id,
                                                      control=control).exists()):  # fmt: skip
                continue
            MappingOverride.objects.create(
                assertion_id=assertion_id, control=control,
                action=MappingOverride.Action.ADD, reason=MAPPING_REASON, created_by=None,
            )  # fmt: skip
            added += 1
    return added


def _vendor_row(v: Vendor) -> dict[str, Any]:
    day = lambda d: d.isoformat() if d else None  # noqa: E731
    return {
        "resource": v.resource, "name": v.name, "purpose": v.purpose,
        "data_categories": list(v.data_categories or []), "criticality": v.criticality,
        "processor": v.is_processor, "subprocessor": v.is_subprocessor,
        "subprocessors": list(v.subprocessors or []),
        "dpa_signed_on": day(v.dpa_signed_on), "dpa_version": v.dpa_version or None,
        "dpa_expires_on": day(v.dpa_expires_on),
        "dpa_file_sha256": v.dpa_file.sha256 if v.dpa_file else None,
        "report_kind": v.report_kind or None, "report_issuer": v.report_issuer or None,
        "report_period_start": day(v.report_period_start),
        "report_period_end": day(v.report_period_end),
        "report_expires_on": day(v.report_expires_on),
        "report_file_sha256": v.report_file.sha256 if v.report_file else None,
        "last_review_on": day(v.last_review_on), "next_review_on": day(v.next_review_on),
        "incidents": v.incident_count,
    }  # fmt: skip


def _incident_row(i: VendorIncident) -> dict[str, Any]:
    day = lambda d: d.isoformat() if d else None  # noqa: E731
    return {"resource": i.resource, "vendor": i.vendor.name, "description": i.description,
            "occurred_on": day(i.occurred_on), "notified_on": day(i.notified_on),
            "notify_by": day(i.notify_by), "handled_on": day(i.handled_on)}  # fmt: skip


def register_evidence_append(*, user: Any = None, as_of: datetime | None = None,
                             reason: str = "") -> EvidenceItem:  # fmt: skip
    """Append the register as it stands, with the assertions' findings, to the chain."""
    as_of = as_of or timezone.now()
    today = timezone.localdate(as_of) if timezone.is_aware(as_of) else as_of.date()
    vendors = list(
        Vendor.objects.select_related("dpa_file", "report_file")
        .annotate(incident_count=Count("incidents"))
        .order_by("name")
    )
    incidents = list(VendorIncident.objects.select_related("vendor").order_by("vendor__name", "pk"))
    previous: dict[str, set[str]] = {}
    last = selectors.register_latest()
    for finding in (last[1].get("findings") or []) if last else []:
        if not finding.get("resolves_earlier"):
            previous.setdefault(finding["assertion_id"], set()).add(finding["resource"])
    rows = coerce_rows(register.COLUMNS, [_vendor_row(v) for v in vendors])
    incident_rows = coerce_rows(register.INCIDENT_COLUMNS, [_incident_row(i) for i in incidents])
    result = register.evaluate(rows=rows, incident_rows=incident_rows, today=today,
                               previous=previous)  # fmt: skip
    files = sorted({(f.sha256, f.file_name, f.kind, f.vendor.name) for f in
                    VendorFile.objects.select_related("vendor")})  # fmt: skip
    document = {
        "kind": register.REGISTER_KEY,
        "collector": {"key": register.REGISTER_KEY, "version": 1,
                      "title": "Vendor and processor register"},
        "collected_at": format_datetime(as_of),
        "as_of": today.isoformat(),
        "reason": reason,
        "thresholds": {"report_max_age_days": register.DEFAULT_REPORT_MAX_AGE_DAYS,
                       "critical": register.CRITICAL},
        "columns": [{"name": c.name, "dtype": c.dtype, "description": c.description}
                    for c in register.COLUMNS],
        "rows": rows,
        "incident_columns": [{"name": c.name, "dtype": c.dtype, "description": c.description}
                             for c in register.INCIDENT_COLUMNS],
        "incident_rows": incident_rows,
        "files": [{"sha256": s, "file_name": n, "kind": k, "vendor": v} for s, n, k, v in files],
        "assertions": [{"id": a, "title": register.TITLES[a],
                        "controls": list(register.CONTROLS[a])} for a in register.ASSERTIONS],
        "findings": [{**f.to_dict(), **({"resolves_earlier": True} if i in result.resolved
                                        else {})} for i, f in enumerate(result.findings)],
        "errors": [],
    }  # fmt: skip
    register_mappings_ensure()
    identity = f"vendor register ({getattr(user, 'username', '') or 'pixaudit'})"
    return evidence_append(
        collector_key=register.REGISTER_KEY, document=document, collected_at=as_of,
        expires_at=as_of + timedelta(days=2), findings=result.findings,
        provenance={"identity": identity, "reason": reason}, rows_count=len(rows),
        then=lambda item: audit_log_record(
            actor=user, action="vendor.register_evidence", obj=item, reason=reason,
            vendors=len(rows), incidents=len(incident_rows),
            failing=sum(1 for f in result.findings if str(f.status) == "fail")),
    )  # fmt: skip


# --- reminders ------------------------------------------------------------------------------


def vendor_reminders_send(*, today: date | None = None) -> int:
    """Remind managers (and subscribed endpoints) before a DPA or report expires and before a
    review is due (within :data:`REMINDER_DAYS`, or already past). Each reminder's key names
    the vendor and the date, so it is sent once per change (a new date reminds again), never
    once per run."""
    from pixaudit.accounts.models import User
    from pixaudit.accounts.permissions import MANAGERS
    from pixaudit.notifications.models import Notification
    from pixaudit.notifications.services import notification_emit

    today = today or timezone.localdate()
    horizon = today + timedelta(days=REMINDER_DAYS)
    managers = list(User.objects.filter(is_active=True, role__in=MANAGERS))
    # Keys already notified are skipped up front (notification_emit would refuse them too,
    # one savepoint each); the unique key still decides between concurrent runs.
    sent_keys = Notification.objects.filter(key__startswith="vendor:")
    known = set(sent_keys.values_list("key", flat=True))
    sent = 0
    for vendor in Vendor.objects.order_by("name"):
        link = reverse("vendors:detail", args=[vendor.pk])
        checks = (
            ("vendor.dpa_expiring", "dpa", vendor.dpa_expires_on, "DPA", "expires", "expired"),
            ("vendor.report_expiring", "report", vendor.report_expires_on,
             "independent report", "expires", "expired"),
            ("vendor.review_due", "review", vendor.next_review_on, "review", "is due", "was due"),
        )  # fmt: skip
        for event, what, day, label, coming, past in checks:
            if day is None or day > horizon:
                continue
            key = f"vendor:{vendor.pk}:{what}:{day.isoformat()}"
            if key in known:
                continue
            subject = f"{vendor.name}: {label} {past if day < today else coming} on {day}"
            note = notification_emit(
                event=event, key=key, subject=subject,
                body=f"{vendor.name} ({vendor.get_criticality_display().lower()} criticality).",
                link=link, users=managers,
                payload={"vendor": vendor.pk, "name": vendor.name, "date": day.isoformat()},
            )  # fmt: skip
            sent += note is not None
    return sent
