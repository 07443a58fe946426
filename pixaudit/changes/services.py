"""The change-ticket join: cited ticket keys of merged changes × the ticket populations.

``github_pull_requests`` rows cite issue keys (``issue_keys``); ticket collectors
(``jira_changes``, ``linear_changes``) list the tickets and judge their approval. Collectors
never read each other's evidence, so the join is done here, on the platform side:
:func:`change_tickets_refresh` reads the latest pull-request evidence of every GitHub
connection and the latest evidence of every ticket population declared in
:data:`TICKET_POPULATIONS`, builds one row per change, evaluates the ``change_tickets``
collector's assertions over the rows and appends one ``change_tickets`` evidence item
(``evidence_append``) whose provenance cites every item it was derived from (seq and
SHA-256).

It runs after each ingest of a pull-request or ticket collector (the post-ingest hook
enqueues :func:`pixaudit.changes.jobs.change_tickets_job`; never in a request), daily
(``pixaudit/cron.py``) and from ``manage.py change_tickets_check``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_rq
from django.utils import timezone

from collectors.base import Finding as SdkFinding
from collectors.base import Status
from collectors.change.change_tickets import NOT_JUDGED, ChangeTicketsCollector
from collectors.evaluate import evaluate_assertions
from collectors.schema import coerce_rows, format_datetime
from pixaudit.auditlog.services import audit_log_record
from pixaudit.changes.selectors import Source, latest_sources
from pixaudit.evidence.models import EvidenceItem, Finding, LatestResult
from pixaudit.evidence.selectors_artifacts import artifact_rows
from pixaudit.evidence.services.append import evidence_append

__all__ = [
    "CHANGES_KEY",
    "TICKET_POPULATIONS",
    "TicketPopulation",
    "change_tickets_after_ingest",
    "change_tickets_refresh",
]

logger = logging.getLogger("pixaudit.changes")

#: The change population: one row per merged pull request or direct push.
CHANGES_KEY = "github_pull_requests"
_CHANGE_COLUMNS = ("pull_request", "change_type", "repository", "merged_at", "issue_keys")
JOB = "pixaudit.changes.jobs.change_tickets_job"


@dataclass(frozen=True)
class TicketPopulation:
    """How to read one ticket collector: the column holding the ticket key, and the
    assertion whose verdict (per ticket, resource = the key) says it was approved."""

    key_column: str
    approval_assertion: str


#: The ticket populations joined to the changes, by collector key (a Jira key ``PAY-12`` and
#: a Linear identifier ``ENG-42`` have the same shape, so one change may cite both). Another
#: ticket collector is one more line here (and a ``SEE_HINTS`` sentence in
#: ``collectors/change/change_tickets.py``).
TICKET_POPULATIONS: dict[str, TicketPopulation] = {
    "jira_changes": TicketPopulation("key", "jira_changes.approved_before_done"),
    "linear_changes": TicketPopulation("key", "linear_changes.approved_before_done"),
}


@dataclass
class _Changes:
    rows: dict[str, dict[str, Any]]  # by change (resource), from the latest evidence
    sources: list[Source]


def _changes() -> _Changes:
    """Every change of the latest pull-request evidence of each GitHub connection; a change
    two connections report is kept from the most recent evidence (highest seq)."""
    rows: dict[str, dict[str, Any]] = {}
    sources = sorted(latest_sources(CHANGES_KEY), key=lambda s: s.item.seq)
    for source in sources:  # later items overwrite earlier ones
        for row in artifact_rows(source.item, _CHANGE_COLUMNS):
            keys = row["issue_keys"] or []
            rows[row["pull_request"]] = {
                "change": row["pull_request"], "change_type": row["change_type"],
                "repository": row["repository"], "merged_at": row["merged_at"],
                "source_seq": source.item.seq, "cited_keys": sorted(set(keys)),
            }  # fmt: skip
    return _Changes(rows, sources)


def _tickets(cited: set[str]) -> tuple[list[Source], dict[str, dict[str, Any]]]:
    """The ticket evidence read, and per cited key seen in it: its approval verdict.

    Only cited keys are kept (a population of any size costs the cited keys' memory). A key
    in two populations keeps the verdict of the most recent evidence."""
    sources: list[Source] = []
    found: dict[str, dict[str, Any]] = {}
    for collector_key in sorted(TICKET_POPULATIONS):
        sources.extend(latest_sources(collector_key))
    for source in sorted(sources, key=lambda s: s.item.seq):
        population = TICKET_POPULATIONS[source.item.collector_key]
        seen = {row[population.key_column] for row in
                artifact_rows(source.item, (population.key_column,))} & cited  # fmt: skip
        verdicts = {
            resource: (status, message)
            for resource, status, message in Finding.objects.filter(
                evidence=source.item, assertion_id=population.approval_assertion,
            ).values_list("resource", "status", "message").iterator(chunk_size=2000)
            if resource in seen
        }  # fmt: skip
        for key in seen:
            status, message = verdicts.get(key, (NOT_JUDGED, ""))
            found[key] = {
                "status": status,
                "message": message,
                "collector": source.item.collector_key,
                "seq": source.item.seq,
            }
    return sorted(sources, key=lambda s: s.item.seq), found


def change_tickets_rows() -> tuple[list[dict[str, Any]], list[Source], list[Source]]:
    """``(rows, change sources, ticket sources)`` of the join, rows sorted by change."""
    changes = _changes()
    cited = {key for row in changes.rows.values() for key in row["cited_keys"]}
    ticket_sources, found = _tickets(cited)
    populations = sorted(TICKET_POPULATIONS)
    labels = [s.label for s in ticket_sources]
    rows = []
    for change in sorted(changes.rows):
        row = changes.rows[change]
        if ticket_sources:
            seen = [k for k in row["cited_keys"] if k in found]
            approval = {k: found[k] for k in seen}
            approved = [k for k in seen if found[k]["status"] == "pass"]
        else:
            seen = approval = approved = None
        rows.append({**row, "keys_seen": seen, "keys_approved": approved, "approval": approval,
                     "ticket_populations": populations, "ticket_evidence": labels})  # fmt: skip
    return rows, changes.sources, ticket_sources


def _open_verdicts() -> set[tuple[str, str]]:
    """(assertion, resource) of the current ``change_tickets`` results that do not pass."""
    return set(
        LatestResult.objects.filter(collector_key=ChangeTicketsCollector.key,
                                    connection__isnull=True)
        .exclude(status="pass").values_list("assertion_id", "resource")
    )  # fmt: skip


def change_tickets_refresh(*, user: Any = None, now: datetime | None = None,
                           reason: str = "") -> EvidenceItem | None:  # fmt: skip
    """Join the latest change and ticket evidence and append one ``change_tickets`` item.

    Returns None (nothing appended) when there is no pull-request evidence and no earlier
    ``change_tickets`` verdict to close. Appended evidence merges into current state, so a
    change that left the population (merged before the window) while failing or warning
    gets one PASS saying so (``resolves_earlier`` in the document), not a verdict forever.
    """
    now = now or timezone.now()
    cls = ChangeTicketsCollector
    rows, change_sources, ticket_sources = change_tickets_rows()
    previous = _open_verdicts()
    if not change_sources and not previous:
        return None
    rows = coerce_rows(cls.columns, rows)
    findings = evaluate_assertions(cls, rows, [])
    judged = {(f.assertion_id, f.resource) for f in findings}
    resolved = len(findings)
    by_id = cls.assertions_by_id
    for assertion_id, resource in sorted(previous - judged):
        declared = by_id.get(assertion_id)
        if declared is None:
            continue
        findings.append(SdkFinding(
            assertion_id, resource, Status.PASS, declared.severity,
            f"{resource} is no longer in the change population of the latest "
            f"{CHANGES_KEY} evidence (merged before its window, or its connection no longer "
            "reports it): nothing left to judge.",
            controls=tuple(declared.controls),
        ))  # fmt: skip
    identity = "change-ticket join (pixaudit)"
    derived = [s.provenance() for s in (*change_sources, *ticket_sources)]
    document = {
        "collector": {"key": cls.key, "version": cls.version, "title": cls.title},
        "collected_at": format_datetime(now),
        "params": {},
        "identity": identity,
        "reason": reason,
        "api_calls": ["pixaudit:evidence_join"],
        "derived_from": derived,
        "ticket_populations": {k: {"key_column": p.key_column,
                                   "approval_assertion": p.approval_assertion}
                               for k, p in sorted(TICKET_POPULATIONS.items())},
        "columns": [{"name": c.name, "dtype": c.dtype, "description": c.description}
                    for c in cls.columns],
        "rows": rows,
        "findings_resolving_earlier": [f.to_dict() for f in findings[resolved:]],
        "errors": [],
    }  # fmt: skip
    counts = {s: sum(1 for f in findings if str(f.status) == s)
              for s in ("pass", "fail", "warn", "error")}  # fmt: skip
    return evidence_append(
        collector_key=cls.key, document=document, collected_at=now,
        expires_at=now + cls.max_age, findings=findings,
        provenance={"identity": identity, "reason": reason, "derived_from": derived},
        rows_count=len(rows), collector_version=cls.version,
        then=lambda item: audit_log_record(
            actor=user, action="changes.tickets_checked", obj=item, reason=reason,
            changes=len(rows), derived_from=[d["seq"] for d in derived], **counts),
    )  # fmt: skip


def change_tickets_after_ingest(*, item: EvidenceItem) -> None:
    """Post-ingest hook (``PIXAUDIT_POST_INGEST_HOOKS``): after a collection of the change
    population or of a ticket population, enqueue the join (a job, never in the caller)."""
    if item.collector_key != CHANGES_KEY and item.collector_key not in TICKET_POPULATIONS:
        return
    django_rq.get_queue("default").enqueue(JOB, reason=f"after {item.collector_key} "
                                           f"seq {item.seq}")  # fmt: skip
