"""Reads for the leaver test: the HR people, the identity populations, the latest result."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from collectors import registry
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.storage import artifact_read
from pixaudit.people.lifecycle import (
    INACTIVE_STATUSES,
    LIFECYCLE_KEY,
    Account,
    Declaration,
    EvidenceRef,
    Person,
)
from pixaudit.people.models import AccountDeclaration, PersonAlias

__all__ = [
    "HR_KEY",
    "aliases_map",
    "declarations_map",
    "hr_connections",
    "hr_sources",
    "identity_sources",
    "evidence_pks",
    "lifecycle_grid",
    "lifecycle_latest",
    "snapshot_loader",
]

HR_KEY = "hris_people"


def _ref(item: EvidenceItem, connection: Connection) -> EvidenceRef:
    return EvidenceRef(item.seq, item.sha256, item.collector_key, connection.name,
                       item.collected_at)  # fmt: skip


def _latest(connection: Connection) -> EvidenceItem | None:
    return (
        EvidenceItem.objects.filter(connection=connection, collector_key=connection.collector_key)
        .order_by("-seq")
        .first()
    )


def _rows(item: EvidenceItem) -> list[dict[str, Any]]:
    return list(json.loads(artifact_read(item.artifact_path)).get("rows") or [])


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value else None


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def hr_connections() -> list[Connection]:
    """Connections of the HR collector, by name."""
    return list(Connection.objects.filter(collector_key=HR_KEY).order_by("name"))


def hr_sources() -> list[Person]:
    """Every person of the latest HR evidence of every HR connection."""
    people: list[Person] = []
    for connection in hr_connections():
        item = _latest(connection)
        if item is None:
            continue
        ref = _ref(item, connection)
        for row in _rows(item):
            people.append(Person(
                resource=row["resource"], employee_id=str(row["employee_id"]),
                name=row.get("name") or str(row["employee_id"]),
                email=(row.get("work_email") or None), start=_day(row.get("start_date")),
                end=_day(row.get("termination_date")), evidence=ref,
            ))  # fmt: skip
    return people


def _identity_classes() -> dict[str, Any]:
    registry.discover()
    return {c.key: c for c in registry.all_collectors() if c.identity_population}


def accounts_of(item: EvidenceItem, connection: Connection) -> list[Account]:
    """The accounts of one identity evidence item (rows with an ``account_id``)."""
    cls = _identity_classes().get(item.collector_key)
    column = cls.resource_column if cls is not None else "account_id"
    ref = _ref(item, connection)
    accounts = []
    for row in _rows(item):
        if row.get("account_id") in (None, ""):
            continue
        accounts.append(Account(
            resource=str(row.get(column) or row["account_id"]),
            display_name=str(row.get("display_name") or row["account_id"]),
            email=(str(row["email"]).lower() if row.get("email") else None),
            status=row.get("status"), is_privileged=row.get("is_privileged"),
            created_at=_instant(row.get("created_at")), system=connection.name, evidence=ref,
            account_id=str(row["account_id"]),
        ))  # fmt: skip
    return accounts


def identity_sources() -> list[tuple[Connection, EvidenceItem]]:
    """Connections of identity collectors with their latest evidence, by name."""
    keys = set(_identity_classes())
    out = []
    for connection in Connection.objects.filter(collector_key__in=keys).order_by("name"):
        item = _latest(connection)
        if item is not None:
            out.append((connection, item))
    return out


def snapshot_loader(sources: list[tuple[Connection, EvidenceItem]]):  # type: ignore[no-untyped-def]
    """``snapshot(system, instant)`` over the evidence history of ``sources`` (cached)."""
    by_name = {connection.name: connection for connection, _item in sources}
    cache: dict[int, list[Account]] = {}

    def snapshot(system: str, instant: datetime):  # type: ignore[no-untyped-def]
        connection = by_name[system]
        item = (
            EvidenceItem.objects.filter(connection=connection,
                                        collector_key=connection.collector_key,
                                        collected_at__gte=instant)
            .order_by("collected_at", "seq").first()
        )  # fmt: skip
        if item is None:
            return None
        if item.pk not in cache:
            cache[item.pk] = accounts_of(item, connection)
        return _ref(item, connection), cache[item.pk]

    return snapshot


def declarations_map() -> dict[str, Declaration]:
    """The mapping table as :class:`Declaration` by resource."""
    return {
        d.resource: Declaration(d.resource, d.kind, d.employee_id or None, d.note)
        for d in AccountDeclaration.objects.all()
    }


def aliases_map() -> dict[str, str]:
    """``{alias: employee id}``."""
    return dict(PersonAlias.objects.values_list("alias", "employee_id"))


def lifecycle_latest() -> tuple[EvidenceItem, dict[str, Any]] | None:
    """The latest leaver test evidence and its document."""
    item = EvidenceItem.objects.filter(collector_key=LIFECYCLE_KEY).order_by("-seq").first()
    if item is None:
        return None
    return item, json.loads(artifact_read(item.artifact_path))


def evidence_pks(document: dict[str, Any]) -> dict[int, int]:
    """``{seq: pk}`` of the evidence items a leaver test document cites (for links)."""
    seqs = [ref["seq"] for ref in document.get("inputs") or []]
    return dict(EvidenceItem.objects.filter(seq__in=seqs).values_list("seq", "pk"))


def lifecycle_grid(document: dict[str, Any]) -> dict[str, Any]:
    """The person × system grid of a leaver test document, for the page.

    ``people``: one row per HR person with a cell per system (its accounts, each with its
    status, the evidence it came from and the verdicts about it); ``unmatched`` and
    ``service``: accounts that belong to no person.
    """
    pks = evidence_pks(document)
    verdicts: dict[str, list[dict[str, Any]]] = {}
    for finding in document.get("findings") or []:
        verdicts.setdefault(finding["resource"], []).append(finding)
    systems = sorted({row["system"] for row in document.get("rows") or []})
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    unmatched, service = [], []
    for row in document.get("rows") or []:
        entry = {**row, "verdicts": verdicts.get(row["account"], []),
                 "account_evidence_pk": pks.get(row["account_evidence"]),
                 "hr_evidence_pk": pks.get(row["hr_evidence"])}  # fmt: skip
        if row["link"] in ("person", "leaver") and row["employee_id"]:
            cells.setdefault((row["employee_id"], row["system"]), []).append(entry)
        elif row["link"] == "service":
            service.append(entry)
        else:
            unmatched.append(entry)
    people = []
    for person in document.get("people") or []:
        row_cells = []
        for system in systems:
            accounts = cells.get((person["employee_id"], system), [])
            row_cells.append({"system": system, "accounts": accounts})
        people.append({**person, "cells": row_cells,
                       "hr_evidence_pk": pks.get(person["hr_evidence"])})  # fmt: skip
    inputs = [{**ref, "pk": pks.get(ref["seq"])} for ref in document.get("inputs") or []]
    leavers = [f for f in document.get("findings") or []
               if f["assertion_id"].endswith(".leavers_disabled")]  # fmt: skip
    candidates: dict[str, int] = {}
    for row in document.get("rows") or []:
        if (
            row["link"] in ("unmatched", "leaver")
            and str(row.get("account_status") or "active").lower() not in INACTIVE_STATUSES
        ):
            candidates[row["system"]] = candidates.get(row["system"], 0) + 1
    connections = dict(Connection.objects.filter(name__in=candidates).values_list("name", "pk"))
    review = [{"system": s, "count": n, "connection": connections.get(s)}
              for s, n in sorted(candidates.items()) if connections.get(s)]  # fmt: skip
    return {"systems": systems, "people": people, "inputs": inputs, "unmatched": unmatched,
            "service": service, "leaver_findings": leavers, "review": review}  # fmt: skip
