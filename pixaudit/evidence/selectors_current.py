"""Reads that derive current state: which connections' last collection failed for good.

A connection is *failed* when its newest finally failed run (permanent error, or a transient
one with no attempt left) is newer than the run of its newest stored evidence. Runs of one
connection never overlap (one active run per connection, enforced by the database), so run
ids order them. While failed, the connection's current state carries one ERROR run-failure
row per assertion it proves (``LatestResult`` with ``run`` set, resource
:data:`~pixaudit.evidence.models.RUN_FAILED_RESOURCE`): :func:`run_failure_rows` says which.
The writer (``services/run_failures.py``) and the verifier (``integrity_current.py``) both
use these functions, so what is written and what is checked cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Q

from collectors import registry
from pixaudit.evidence.models import (
    MAX_ATTEMPTS,
    RUN_FAILED_RESOURCE,
    CollectionRun,
    EvidenceItem,
    LatestResult,
    RunStatus,
)

__all__ = [
    "RunFailureRow",
    "connections_failed",
    "current_assertions",
    "current_result_assertions",
    "run_failure_message",
    "run_failure_rows",
]

_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@dataclass(frozen=True)
class RunFailureRow:
    """The content of one run-failure row of current state."""

    assertion_id: str
    resource: str
    collector_key: str
    connection_id: int
    status: str
    severity: str
    message: str
    controls: list[str]
    run_id: int


def _final_failure() -> Q:
    return Q(status=RunStatus.FAILED) & (Q(error_permanent=True) | Q(attempt__gte=MAX_ATTEMPTS))


def connections_failed(*, connection_ids: Iterable[int] | None = None) -> dict[int, CollectionRun]:
    """connection id -> its newest finally failed run, for every failed connection (two
    queries; the second only over connections with such a run)."""
    runs = CollectionRun.objects.filter(_final_failure(), connection__isnull=False)
    if connection_ids is not None:
        runs = runs.filter(connection_id__in=list(connection_ids))
    newest = dict(
        runs.values("connection_id").annotate(last=Max("id")).values_list("connection_id", "last")
    )
    if not newest:
        return {}
    stored = dict(
        EvidenceItem.objects.filter(connection_id__in=list(newest))
        .values("connection_id")
        .annotate(last=Max("run_id"))
        .values_list("connection_id", "last")
    )
    failed = {conn: run for conn, run in newest.items() if run > (stored.get(conn) or 0)}
    return {
        run.connection_id: run
        for run in CollectionRun.objects.filter(pk__in=failed.values()).select_related("connection")
    }


def run_failure_message(run: CollectionRun) -> str:
    """What a run-failure row says: the run's own error message, and what it means."""
    text = (run.error_message or "no message recorded").rstrip(".")
    return (
        f"The last collection failed (run {run.pk}): {text}. Until a collection of this "
        "connection succeeds, its earlier results cannot be relied on."
    )


def run_failure_rows(
    *, run: CollectionRun, current: Mapping[str, tuple[str, list[str]]]
) -> list[RunFailureRow]:
    """The run-failure rows of a failed connection whose newest final failure is ``run``.

    One per assertion the connection proves: those its collector declares, plus those its
    current result rows carry (``current``: assertion id -> (severity, controls), e.g. of a
    collector version that has since dropped one, or a collector no longer installed).
    """
    assertions: dict[str, tuple[str, list[str]]] = dict(current)
    try:
        registry.discover()
        cls = registry.get(run.collector_key)
    except KeyError:
        cls = None
    for declared in cls.assertions if cls is not None else ():
        assertions[declared.id] = (str(declared.severity), list(declared.controls))
    message = run_failure_message(run)
    return [
        RunFailureRow(
            assertion_id=assertion_id,
            resource=RUN_FAILED_RESOURCE,
            collector_key=run.collector_key,
            connection_id=run.connection_id,
            status="error",
            severity=severity,
            message=message,
            controls=list(controls),
            run_id=run.pk,
        )
        for assertion_id, (severity, controls) in sorted(assertions.items())
    ]


def current_assertions(
    rows: Iterable[Mapping[str, Any]],
) -> dict[int, dict[str, tuple[str, list[str]]]]:
    """connection id -> assertion id -> (worst severity, controls) of result rows given as
    dicts with ``connection_id``, ``assertion_id``, ``severity`` and ``controls``."""
    out: dict[int, dict[str, tuple[str, list[str]]]] = {}
    for row in rows:
        per = out.setdefault(row["connection_id"], {})
        known = per.get(row["assertion_id"])
        severity = row["severity"]
        if known is not None and _SEVERITY_RANK.get(known[0], 9) <= _SEVERITY_RANK.get(severity, 9):
            continue
        per[row["assertion_id"]] = (severity, list(row["controls"] or []))
    return out


def current_result_assertions(
    *, connection_ids: Iterable[int]
) -> dict[int, dict[str, tuple[str, list[str]]]]:
    """:func:`current_assertions` of the result rows (not run-failure rows) in current state
    of some connections (one query)."""
    rows = (
        LatestResult.objects.filter(connection_id__in=list(connection_ids), run__isnull=True)
        .values("connection_id", "assertion_id", "severity", "controls")
        .distinct()
        .order_by()
    )
    return current_assertions(rows)
