"""Writes of the people app: the mapping table, HR uploads and the leaver test run.

Every function records its audit event. The leaver test appends its result to the evidence
chain (collector key ``identity_lifecycle``), with the inputs it read (every evidence item,
with its SHA-256 and collection time), the mapping table as it stood, the thresholds, the
population (one row per account) and the findings with the evidence behind each; the
assertions are mapped to CC6.2/CC6.3 and A.5.16/A.5.18/A.6.5 as system mapping overrides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from collectors.evaluate import evaluate_assertions
from collectors.hris._people_file import PeopleFileError, parse_people
from collectors.hris.hris_people import HrisPeopleCollector, people_rows
from collectors.schema import coerce_rows, format_datetime
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import CheckMapping, Control, MappingOverride
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.services.append import evidence_append
from pixaudit.lib.single_line import control_characters
from pixaudit.people import selectors
from pixaudit.people.lifecycle import (
    ASSERTIONS,
    CONTROLS,
    INACTIVE_STATUSES,
    LIFECYCLE_KEY,
    evaluate,
)
from pixaudit.people.models import AccountDeclaration, PersonAlias

__all__ = [
    "PeopleError",
    "alias_delete",
    "alias_save",
    "declaration_delete",
    "declaration_save",
    "hr_upload",
    "lifecycle_mappings_ensure",
    "lifecycle_run",
    "review_start",
]

DEFAULT_LEAVER_DAYS = 1
MAPPING_REASON = "Leaver and orphan test (pixaudit.people): joiners, leavers, account owners."


class PeopleError(ValueError):
    """Bad input; ``errors`` maps a field (or ``""``) to a message, or lists file lines."""

    def __init__(self, errors: Mapping[str, str] | str, lines: list[tuple[int, str]] = ()):
        self.errors = {"": errors} if isinstance(errors, str) else dict(errors)
        self.lines = list(lines)
        super().__init__("; ".join(self.errors.values()))


def _clean(value: str, field: str, *, required: bool = True, lower: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise PeopleError({field: "This field is required."})
    if found := control_characters(text):
        raise PeopleError({field: f"Use a single line of text (remove {', '.join(found)})."})
    return text.lower() if lower else text


# --- mapping table -------------------------------------------------------------------------


def declaration_save(
    *, resource: str, kind: str, employee_id: str = "", note: str = "", user: Any = None
) -> AccountDeclaration:
    """Declare an account a person's, or a service account with (or without) an owner."""
    resource = _clean(resource, "resource")
    employee_id = _clean(employee_id, "employee_id", required=False)
    if kind not in AccountDeclaration.Kind.values:
        raise PeopleError({"kind": "Choose a person's account or a service account."})
    if kind == AccountDeclaration.Kind.PERSON and not employee_id:
        raise PeopleError({"employee_id": "Name the person's employee id."})
    with transaction.atomic():
        previous = AccountDeclaration.objects.filter(resource=resource).first()
        before = {"kind": previous.kind, "employee_id": previous.employee_id} if previous else None
        declaration, _ = AccountDeclaration.objects.update_or_create(
            resource=resource,
            defaults={"kind": kind, "employee_id": employee_id, "note": (note or "").strip(),
                      "updated_by": user if getattr(user, "is_authenticated", False) else None},
        )  # fmt: skip
        audit_log_record(actor=user, action="people.declaration_saved", obj=declaration,
                         resource=resource, kind=kind, employee_id=employee_id,
                         previous=before)  # fmt: skip
    return declaration


def declaration_delete(*, pk: int, user: Any = None) -> None:
    """Remove a row of the mapping table."""
    with transaction.atomic():
        declaration = AccountDeclaration.objects.filter(pk=pk).first()
        if declaration is None:
            raise PeopleError("That declaration no longer exists.")
        audit_log_record(actor=user, action="people.declaration_deleted", obj=declaration,
                         resource=declaration.resource, kind=declaration.kind,
                         employee_id=declaration.employee_id)  # fmt: skip
        declaration.delete()


def alias_save(*, alias: str, employee_id: str, user: Any = None) -> PersonAlias:
    """Let another e-mail address or login stand for an employee."""
    alias = _clean(alias, "alias", lower=True)
    employee_id = _clean(employee_id, "employee_id")
    with transaction.atomic():
        record, _ = PersonAlias.objects.update_or_create(
            alias=alias,
            defaults={"employee_id": employee_id,
                      "created_by": user if getattr(user, "is_authenticated", False) else None},
        )  # fmt: skip
        audit_log_record(actor=user, action="people.alias_saved", obj=record, alias=alias,
                         employee_id=employee_id)  # fmt: skip
    return record


def alias_delete(*, pk: int, user: Any = None) -> None:
    """Remove an alias."""
    with transaction.atomic():
        record = PersonAlias.objects.filter(pk=pk).first()
        if record is None:
            raise PeopleError("That alias no longer exists.")
        audit_log_record(actor=user, action="people.alias_deleted", obj=record,
                         alias=record.alias, employee_id=record.employee_id)  # fmt: skip
        record.delete()


# --- HR uploads ----------------------------------------------------------------------------


def hr_upload(
    *, connection: Connection, filename: str, data: bytes, user: Any = None
) -> EvidenceItem:
    """Validate an HR export and append it as the connection's ``hris_people`` evidence.

    A file with any bad line is refused as a whole (``PeopleError.lines``: line, message);
    nothing is stored.
    """
    if connection.collector_key != HrisPeopleCollector.key:
        raise PeopleError({"connection": "Choose a connection of the HR collector."})
    try:
        people = parse_people(data, filename or "")
    except PeopleFileError as exc:
        raise PeopleError({"file": f"{filename}: the file was not used."}, exc.errors) from None
    name = (filename or "upload").replace("/", "_").replace("\\", "_")[-100:]
    rows = coerce_rows(HrisPeopleCollector.columns, people_rows(people, f"file:{name}"))
    findings = evaluate_assertions(HrisPeopleCollector, rows, [],
                                   thresholds=connection.thresholds or None)  # fmt: skip
    now = timezone.now()
    digest = hashlib.sha256(data).hexdigest()
    identity = f"upload by {getattr(user, 'email', '') or getattr(user, 'username', 'system')}"
    document = {
        "collector": {"key": HrisPeopleCollector.key, "version": HrisPeopleCollector.version,
                      "title": HrisPeopleCollector.title},
        "connection": {"id": connection.pk, "name": connection.name},
        "collected_at": format_datetime(now),
        "params": {"provider": "file"},
        "identity": identity,
        "api_calls": ["file:upload"],
        "upload": {"filename": name, "sha256": digest, "size": len(data)},
        "columns": [{"name": c.name, "dtype": c.dtype, "description": c.description}
                    for c in HrisPeopleCollector.columns],
        "rows": rows,
        "errors": [],
    }  # fmt: skip
    item = evidence_append(
        collector_key=HrisPeopleCollector.key, document=document, collected_at=now,
        expires_at=now + HrisPeopleCollector.max_age, findings=findings,
        provenance={"identity": identity, "upload": document["upload"]},
        rows_count=len(rows), collector_version=HrisPeopleCollector.version,
        connection_id=connection.pk,
        then=lambda item: audit_log_record(
            actor=user, action="people.hr_uploaded", obj=item, connection=connection.name,
            filename=name, sha256=digest, people=len(rows)),
    )  # fmt: skip
    return item


# --- the leaver test -----------------------------------------------------------------------


def lifecycle_mappings_ensure() -> int:
    """Map the leaver test's assertions to their controls (once; never over a decision)."""
    added = 0
    for assertion_id in ASSERTIONS:
        for address in CONTROLS[assertion_id]:
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


def lifecycle_run(
    *, user: Any = None, as_of: datetime | None = None, leaver_days: int = DEFAULT_LEAVER_DAYS,
    joiner_grace_days: int = 0,
) -> EvidenceItem:  # fmt: skip
    """Run the leaver, orphan and joiner test over the latest evidence and append the result."""
    if leaver_days < 0 or joiner_grace_days < 0:
        raise PeopleError("Thresholds are whole days, zero or more.")
    as_of = as_of or timezone.now()
    people = selectors.hr_sources()
    if not people:
        raise PeopleError("No HR evidence yet: collect or upload the HR people first "
                          "(a connection of the hris_people collector).")  # fmt: skip
    sources = selectors.identity_sources()
    accounts = [a for connection, item in sources for a in selectors.accounts_of(item, connection)]
    declarations = selectors.declarations_map()
    aliases = selectors.aliases_map()
    previous: dict[str, set[str]] = {}
    last = selectors.lifecycle_latest()
    for finding in (last[1].get("findings") or []) if last else []:
        if not finding.get("resolves_earlier"):
            previous.setdefault(finding["assertion_id"], set()).add(finding["resource"])
    result = evaluate(
        people=people, accounts=accounts, declarations=declarations, aliases=aliases,
        snapshot=selectors.snapshot_loader(sources), as_of=as_of, leaver_days=leaver_days,
        joiner_grace_days=joiner_grace_days, previous=previous,
    )  # fmt: skip
    inputs = {p.evidence.seq: p.evidence for p in people}
    inputs.update({a.evidence.seq: a.evidence for a in accounts})
    for refs in result.sources:
        for ref in refs:
            inputs.setdefault(ref["seq"], None)  # type: ignore[arg-type]
    document = {
        "kind": "identity_lifecycle",
        "as_of": format_datetime(as_of),
        "thresholds": result.thresholds,
        "inputs": sorted(
            [r.to_dict() for r in inputs.values() if r is not None]
            + [s for refs in result.sources for s in refs],
            key=lambda r: r["seq"],
        ),
        "mapping_table": [
            {"resource": d.resource, "kind": d.kind, "employee_id": d.employee_id, "note": d.note}
            for d in declarations.values()
        ],
        "aliases": [{"alias": a, "employee_id": e} for a, e in sorted(aliases.items())],
        "people": [
            {"employee_id": p.employee_id, "name": p.name, "email": p.email,
             "start_date": p.start.isoformat() if p.start else None,
             "termination_date": p.end.isoformat() if p.end else None,
             "state": ("leaver" if p.left(as_of.date()) else
                       "joiner" if p.start and p.start > as_of.date() else
                       "rehired" if p.rehired else "current"),
             "hr_evidence": p.evidence.seq}
            for p in sorted(people, key=lambda p: (p.name.lower(), p.employee_id))
        ],
        "columns": ["system", "account", "account_id", "account_name", "account_status",
                    "account_evidence", "link", "matched_by", "employee_id", "person",
                    "termination_date", "hr_evidence"],
        "rows": result.rows,
        "findings": [{**f.to_dict(), "evidence": refs,
                      **({"resolves_earlier": True} if i in result.resolved else {})}
                     for i, (f, refs) in enumerate(zip(result.findings, result.sources,
                                                       strict=True))],
    }  # fmt: skip
    _dedupe_inputs(document)
    lifecycle_mappings_ensure()
    return evidence_append(
        collector_key=LIFECYCLE_KEY, document=document, collected_at=as_of,
        expires_at=as_of + timedelta(days=1), findings=result.findings,
        provenance={"identity": "pixaudit leaver test", "inputs": [i["seq"] for i in
                                                                 document["inputs"]]},
        rows_count=len(result.rows),
        then=lambda item: audit_log_record(
            actor=user, action="people.lifecycle_run", obj=item,
            findings=len(result.findings), accounts=len(result.rows), people=len(people),
            failing=sum(1 for f in result.findings if str(f.status) == "fail")),
    )  # fmt: skip


def _dedupe_inputs(document: dict[str, Any]) -> None:
    seen: dict[int, dict[str, Any]] = {}
    for ref in document["inputs"]:
        seen.setdefault(ref["seq"], ref)
    document["inputs"] = [seen[s] for s in sorted(seen)]


# --- access reviews ------------------------------------------------------------------------


def review_start(*, connection: Connection, name: str, due_on: Any, user: Any = None) -> Any:
    """Open an access review campaign on the accounts of ``connection`` that the latest
    leaver test matched to no active person (nobody's, or a leaver's), still active."""
    from pixaudit.reviews.services import ReviewError, campaign_start

    latest = selectors.lifecycle_latest()
    if latest is None:
        raise PeopleError("Run the leaver test first.")
    item, document = latest
    ids = sorted({
        str(row.get("account_id") or row["account"]) for row in document.get("rows") or []
        if row["system"] == connection.name and row["link"] in ("unmatched", "leaver")
        and str(row.get("account_status") or "active").lower() not in INACTIVE_STATUSES
    })  # fmt: skip
    if not ids:
        raise PeopleError(f"The leaver test (evidence #{item.seq}) found no active account of "
                          f"{connection.name} without an active person.")  # fmt: skip
    try:
        return campaign_start(
            connection=connection, name=name, due_on=due_on, user=user, accounts=ids,
            scope=f"accounts matched to no active person (leaver test evidence #{item.seq})",
        )  # fmt: skip
    except ReviewError as exc:
        raise PeopleError(dict(exc.errors)) from None
