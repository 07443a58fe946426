"""Writes of the exceptions register.

- :func:`exceptions_sync` brings the register up to the chain head (the post-ingest hook,
  the daily job); :func:`exceptions_rebuild` recomputes it from the whole history and keeps
  what people added (owner, note, acceptances). Both run the same replay
  (``pixaudit.exceptions.replay``) under the register's lock, so the result of a rebuild is
  the result of any sequence of incremental syncs.
- Owner and note, and risk acceptances (request, approve or reject, revoke, expiry), are
  audit-logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.accounts.permissions import MANAGERS
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.models import EvidenceItem
from pixaudit.exceptions.models import (
    AcceptanceStatus,
    ExceptionAcceptance,
    ExceptionRecord,
    ReplayCursor,
)
from pixaudit.exceptions.replay import DERIVED_FIELDS, Replay, Stretch, items_after, stretch_of
from pixaudit.posture.ownership import OWNER_ROLES

__all__ = [
    "SyncResult",
    "acceptance_decide",
    "acceptance_request",
    "acceptance_revoke",
    "acceptances_expire",
    "exception_update",
    "exceptions_after_ingest",
    "exceptions_rebuild",
    "exceptions_sync",
]

logger = logging.getLogger("pixaudit.exceptions")

NOTE_MAX = 4000
REASON_MAX = 4000


@dataclass(frozen=True)
class SyncResult:
    """What a sync or rebuild did: items replayed, rows created/updated/removed, head seq."""

    items: int
    created: int
    updated: int
    removed: int
    seq: int


def _lock_cursor() -> ReplayCursor:
    # UPDATE first: on SQLite it takes the write lock (a SELECT would only read-lock).
    now = timezone.now()
    if not ReplayCursor.objects.filter(pk=1).update(updated_at=now):
        ReplayCursor.objects.get_or_create(pk=1)
    return ReplayCursor.objects.select_for_update().get(pk=1)


def _record(stretch: Stretch) -> ExceptionRecord:
    return ExceptionRecord(assertion_id=stretch.assertion_id, resource=stretch.resource,
                           **stretch.derived())  # fmt: skip


def _save(stretches: list[Stretch]) -> tuple[int, int]:
    """Write touched stretches with few statements: stored rows get only their changed
    fields, rows with the same changes in one UPDATE (one collection extends or closes many
    exceptions the same way). Closings come first, then other updates, then new rows (closed
    ones before open ones), so the "one open exception per key" constraint holds after every
    statement."""
    now = timezone.now()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for stretch in stretches:
        if stretch.pk is None:
            continue
        stored = stretch.stored or {}
        diff = tuple(sorted(
            (name, value) for name, value in stretch.derived().items()
            if name not in stored or stored[name] != value
        ))  # fmt: skip
        if diff:
            groups[diff].append(stretch.pk)
    updated = 0
    for diff in sorted(groups, key=lambda d: dict(d).get("closed_at") is None):
        pks = groups[diff]
        for start in range(0, len(pks), 1000):
            ExceptionRecord.objects.filter(pk__in=pks[start : start + 1000]).update(
                **dict(diff), updated_at=now
            )
        updated += len(pks)
    new = [_record(s) for s in stretches if s.pk is None]
    new.sort(key=lambda r: r.closed_at is None)
    ExceptionRecord.objects.bulk_create(new, batch_size=1000)
    return len(new), updated


def exceptions_sync() -> SyncResult:
    """Replay every item appended since the last sync into the register (idempotent)."""
    with transaction.atomic():
        cursor = _lock_cursor()
        start = cursor.seq
        open_rows = ExceptionRecord.objects.filter(closed_at__isnull=True)
        replay = Replay([stretch_of(row) for row in open_rows])
        count, seq = 0, start
        for item, findings in items_after(start):
            replay.apply(item, findings)
            count, seq = count + 1, item["seq"]
        created, updated = _save(list(replay.touched.values()))
        if seq != start:
            cursor.seq = seq
            cursor.save(update_fields=["seq", "updated_at"])
    return SyncResult(count, created, updated, 0, seq)


def exceptions_after_ingest(*, item: EvidenceItem) -> None:
    """Post-ingest hook (``PIXAUDIT_POST_INGEST_HOOKS``): bring the register up to date."""
    exceptions_sync()


def exceptions_rebuild(*, actor: User | None = None) -> SyncResult:
    """Recompute the register from the whole findings history.

    Rows are matched by natural key (start item, assertion, resource): a matching row keeps
    its id, owner, note and acceptances and gets the recomputed fields; rows history no
    longer supports are removed (refused if one carries an acceptance); missing ones are
    created. Audit-logged as ``exceptions.rebuilt`` with the counts.
    """
    with transaction.atomic():
        cursor = _lock_cursor()
        replay = Replay()
        count, seq = 0, 0
        for item, findings in items_after(0):
            replay.apply(item, findings)
            count, seq = count + 1, item["seq"]
        derived = {s.natural_key: s for s in replay.touched.values()}
        existing = {
            (r.start_evidence_id, r.assertion_id, r.resource): r
            for r in ExceptionRecord.objects.all()
        }
        stale = [row for key, row in existing.items() if key not in derived]
        accepted = ExceptionAcceptance.objects.filter(exception__in=[r.pk for r in stale])
        if accepted.exists():
            raise ValidationError(
                "The findings history no longer supports exceptions that carry risk "
                "acceptances; nothing was changed."
            )
        ExceptionRecord.objects.filter(pk__in=[r.pk for r in stale]).delete()
        changed: list[Stretch] = []
        for key, stretch in derived.items():
            row = existing.get(key)
            if row is None:
                changed.append(stretch)
            elif any(getattr(row, name) != getattr(stretch, name) for name in DERIVED_FIELDS):
                stretch.pk = row.pk
                stretch.stored = {name: getattr(row, name) for name in DERIVED_FIELDS}
                changed.append(stretch)
        # Rows that stay open but are not rewritten can block a reopened key: update them
        # in the same closings-first order as every other write.
        created, updated = _save(changed)
        cursor.seq = seq
        cursor.save(update_fields=["seq", "updated_at"])
        result = SyncResult(count, created, updated, len(stale), seq)
        audit_log_record(action="exceptions.rebuilt", actor=actor, items=count,
                         created=created, updated=updated, removed=len(stale), seq=seq)  # fmt: skip
    return result


# --- What people add -----------------------------------------------------------------------


@transaction.atomic
def exception_update(
    *,
    exception: ExceptionRecord,
    owner: User | None,
    note: str,
    actor: User,
    request: Any = None,
) -> ExceptionRecord:
    """Set the remediation owner (``None``: the default, a mapped control's owner) and note."""
    note = (note or "").strip()
    errors: dict[str, str] = {}
    if owner is not None and (not owner.is_active or owner.role not in OWNER_ROLES):
        errors["owner"] = "Choose an active internal user (not an auditor)."
    if len(note) > NOTE_MAX:
        errors["note"] = f"At most {NOTE_MAX} characters (this note has {len(note)})."
    if errors:
        raise ValidationError(errors)
    row = ExceptionRecord.objects.select_for_update().get(pk=exception.pk)
    previous_owner = row.owner.get_username() if row.owner_id else None
    changed = []
    if row.owner_id != (owner.pk if owner else None):
        changed.append("owner")
    if row.note != note:
        changed.append("note")
    if not changed:
        return row
    ExceptionRecord.objects.filter(pk=row.pk).update(owner=owner, note=note,
                                                     updated_at=timezone.now())  # fmt: skip
    audit_log_record(
        action="exception.updated", obj=row, request=request, actor=actor, changed=changed,
        owner=owner.get_username() if owner else None, previous_owner=previous_owner,
    )  # fmt: skip
    row.refresh_from_db()
    return row


def acceptance_active(*, exception: ExceptionRecord, today: date | None = None):
    """The approved, unrevoked, unexpired acceptance of ``exception`` (or None)."""
    today = today or timezone.now().date()
    return (
        exception.acceptances.filter(status=AcceptanceStatus.APPROVED, expires_on__gte=today)
        .order_by("-decided_at")
        .first()
    )


@transaction.atomic
def acceptance_request(
    *,
    exception: ExceptionRecord,
    reason: str,
    expires_on: date | None,
    actor: User,
    request: Any = None,
) -> ExceptionAcceptance:
    """Ask for the risk of an open exception to be accepted until ``expires_on``."""
    row = ExceptionRecord.objects.select_for_update().get(pk=exception.pk)
    reason = (reason or "").strip()
    today = timezone.now().date()
    errors: dict[str, str] = {}
    if actor.role not in (Role.ADMIN, Role.COMPLIANCE_MANAGER, Role.ENGINEER):
        errors["__all__"] = "Only internal users may ask for a risk acceptance."
    if row.closed_at is not None:
        errors["__all__"] = "This exception is closed: there is no risk left to accept."
    if not reason:
        errors["reason"] = "Say why the risk is accepted."
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"At most {REASON_MAX} characters."
    if expires_on is None:
        errors["expires_on"] = "An acceptance needs an expiry date."
    elif expires_on < today:
        errors["expires_on"] = "The expiry date is in the past."
    pending = row.acceptances.filter(
        status__in=[AcceptanceStatus.REQUESTED, AcceptanceStatus.APPROVED]
    ).exclude(status=AcceptanceStatus.APPROVED, expires_on__lt=today)
    if pending.exists():
        errors["__all__"] = "An acceptance is already requested or in force for this exception."
    if errors:
        raise ValidationError(errors)
    acceptance = ExceptionAcceptance.objects.create(
        exception=row, reason=reason, expires_on=expires_on, requested_by=actor
    )
    audit_log_record(action="exception.acceptance_requested", obj=row, request=request,
                     actor=actor, acceptance_id=acceptance.pk, reason=reason,
                     expires_on=expires_on)  # fmt: skip
    return acceptance


@transaction.atomic
def acceptance_decide(
    *,
    acceptance: ExceptionAcceptance,
    approve: bool,
    note: str,
    actor: User,
    request: Any = None,
) -> ExceptionAcceptance:
    """Approve or reject a requested acceptance: a manager or admin who did not request it."""
    row = ExceptionAcceptance.objects.select_for_update().get(pk=acceptance.pk)
    note = (note or "").strip()
    if row.status != AcceptanceStatus.REQUESTED:
        raise ValidationError(f"This acceptance is already {row.get_status_display().lower()}.")
    if actor.role not in MANAGERS:
        raise ValidationError("Only a compliance manager or an admin can approve an acceptance.")
    if actor.pk == row.requested_by_id:
        raise ValidationError("Someone other than the requester must approve or reject it.")
    if not approve and not note:
        raise ValidationError({"note": "Say why the acceptance is rejected."})
    if approve and row.expires_on < timezone.now().date():
        raise ValidationError("The requested expiry date has passed; ask again.")
    exception = ExceptionRecord.objects.select_for_update().get(pk=row.exception_id)
    if approve and exception.closed_at is not None:
        raise ValidationError("This exception has closed: there is no risk left to accept.")
    row.status = AcceptanceStatus.APPROVED if approve else AcceptanceStatus.REJECTED
    row.decided_by, row.decided_at, row.decision_note = actor, timezone.now(), note
    row.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    action = "exception.acceptance_approved" if approve else "exception.acceptance_rejected"
    audit_log_record(action=action, obj=exception, request=request, actor=actor,
                     acceptance_id=row.pk, requested_by=row.requested_by.get_username(),
                     expires_on=row.expires_on, note=note)  # fmt: skip
    return row


@transaction.atomic
def acceptance_revoke(
    *, acceptance: ExceptionAcceptance, actor: User, request: Any = None
) -> ExceptionAcceptance:
    """End an approved acceptance before its expiry (a manager or admin)."""
    row = ExceptionAcceptance.objects.select_for_update().get(pk=acceptance.pk)
    if actor.role not in MANAGERS:
        raise ValidationError("Only a compliance manager or an admin can revoke an acceptance.")
    if row.status != AcceptanceStatus.APPROVED:
        raise ValidationError("Only an approved acceptance can be revoked.")
    row.status = AcceptanceStatus.REVOKED
    row.revoked_by, row.revoked_at = actor, timezone.now()
    row.save(update_fields=["status", "revoked_by", "revoked_at"])
    audit_log_record(action="exception.acceptance_revoked", obj=row.exception, request=request,
                     actor=actor, acceptance_id=row.pk, expires_on=row.expires_on)  # fmt: skip
    return row


def acceptances_expire(*, today: date | None = None) -> int:
    """Record once, in the audit log, each approved acceptance whose expiry has passed
    (``exception.acceptance_expired``). The expiry itself needs no write: an acceptance is in
    force only while ``expires_on`` has not passed."""
    today = today or timezone.now().date()
    count = 0
    with transaction.atomic():
        due = (
            ExceptionAcceptance.objects.select_for_update()
            .filter(status=AcceptanceStatus.APPROVED, expires_on__lt=today, expired_at__isnull=True)
            .select_related("exception")
        )
        for row in due:
            row.expired_at = timezone.now()
            row.save(update_fields=["expired_at"])
            audit_log_record(action="exception.acceptance_expired", obj=row.exception,
                             acceptance_id=row.pk, expires_on=row.expires_on)  # fmt: skip
            count += 1
    return count
