"""Control status: what each control of a framework looks like right now, and over time.

Current status reads the small ``LatestResult`` table (one row per assertion × resource ×
connection, plus ERROR rows for connections whose last collection failed), joined once to
its evidence item for freshness; it never scans ``Finding`` history. Every selector here runs
a constant number of queries, whatever the volume of evidence.

Status rules, first match wins (see ``docs/architecture.md``):

1. ``not_applicable``: the latest Statement of Applicability decision excludes the control.
2. ``no_evidence``: none of the control's effective assertions (mappings after overrides)
   has a current result.
3. ``failing``: any current result is FAIL.
4. ``error``: any current result is ERROR (failure is data: a check that could not see a
   resource keeps the control from passing, and so does a connection whose last collection
   failed for good: its run-failure rows are ERROR results until a collection succeeds).
5. ``warning``: any current result is WARN ("needs review").
6. ``stale``: for one of its assertions, the freshest evidence of some connection that
   reports it has expired (``expires_at``).
7. ``risk_accepted``: the only failures are FAIL results whose exceptions have a risk
   acceptance in force (``exceptions.ExceptionAcceptance``: approved, not revoked, expiry
   today or later); otherwise as passing. Excluded from monitoring: it counts neither as
   passing nor in the readiness denominator. The day after the expiry it is failing again.
8. ``passing``: every current result passes, and the evidence is fresh.

Manual evidence (``pixaudit.evidence.selectors_manual``) joins in after rule 5: a control that
needs manual evidence — it is flagged (``ManualRequirement``) or it was evidenced by an upload
before — and has no unexpired upload now is ``manual_pending`` (automated failures still win;
a lapsed pen test report does not hide a failing check). A control whose only evidence is a
valid upload is ``passing``. Readiness = passing / (assessable − not applicable − risk
accepted).

Adding a connection never improves a control: its results only add to the counts above, and
freshness is judged per connection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, TextChoices, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from collectors import registry
from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import effective_mappings
from pixaudit.evidence.models import (
    EvidenceItem,
    Finding,
    LatestResult,
    ManualEvidence,
    ManualEvidenceControl,
)
from pixaudit.evidence.selectors_manual import (
    ManualControlState,
    manual_annotate_controls,
    manual_state_of,
    manual_states,
)
from pixaudit.exceptions.acceptances import accepted_failures
from pixaudit.posture.models import ApplicabilityDecision, ReadinessSnapshot


class ControlStatus(TextChoices):
    PASSING = "passing", "Passing"
    FAILING = "failing", "Failing"
    ERROR = "error", "Error"
    WARNING = "warning", "Needs review"
    STALE = "stale", "Stale"
    NO_EVIDENCE = "no_evidence", "No evidence"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    MANUAL_PENDING = "manual_pending", "Manual pending"
    RISK_ACCEPTED = "risk_accepted", "Excluded (risk accepted)"


#: Order of statuses in summaries: what needs attention first.
STATUS_ORDER = (
    ControlStatus.FAILING,
    ControlStatus.ERROR,
    ControlStatus.WARNING,
    ControlStatus.STALE,
    ControlStatus.MANUAL_PENDING,
    ControlStatus.NO_EVIDENCE,
    ControlStatus.PASSING,
    ControlStatus.RISK_ACCEPTED,
    ControlStatus.NOT_APPLICABLE,
)
#: Statuses outside the readiness denominator.
EXCLUDED_STATUSES = (ControlStatus.NOT_APPLICABLE, ControlStatus.RISK_ACCEPTED)
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
_NOT_PASSING = ("fail", "error", "warn")


@dataclass
class AssertionState:
    """Current results of one assertion, summed over its resources."""

    assertion_id: str
    counts: dict[str, int] = field(default_factory=dict)
    worst_severity: str = ""  # of non-passing results
    last_collected_at: datetime | None = None
    # When the first connection's freshest evidence expires (expired): per connection, the
    # freshest evidence counts; over connections, the earliest such expiry.
    expires_at: datetime | None = None
    #: FAIL results (of ``counts``) whose exception has a risk acceptance in force.
    accepted: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def stale(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at < now


@dataclass
class ControlPosture:
    control: Control
    status: str
    assertion_ids: list[str]
    states: list[AssertionState]
    decision: ApplicabilityDecision | None
    stale: bool = False
    manual: ManualControlState | None = None

    @property
    def status_label(self) -> str:
        return ControlStatus(self.status).label

    def _count(self, status: str) -> int:
        return sum(s.counts.get(status, 0) for s in self.states)

    @property
    def passing_results(self) -> int:
        return self._count("pass")

    @property
    def failing_results(self) -> int:
        """FAIL and ERROR results (each assertion × resource counted once)."""
        return self._count("fail") + self._count("error")

    @property
    def warning_results(self) -> int:
        return self._count("warn")

    @property
    def total_results(self) -> int:
        return sum(s.total for s in self.states)

    @property
    def worst_severity(self) -> str:
        severities = [s.worst_severity for s in self.states if s.worst_severity]
        return min(severities, key=lambda s: SEVERITY_RANK.get(s, 9), default="")

    @property
    def last_collected_at(self) -> datetime | None:
        times = [s.last_collected_at for s in self.states if s.last_collected_at]
        return max(times, default=None)

    @property
    def expires_at(self) -> datetime | None:
        """When the first of its assertions' evidence goes (went) stale."""
        times = [s.expires_at for s in self.states if s.expires_at]
        return min(times, default=None)


@dataclass
class FrameworkPosture:
    framework: Framework
    controls: list[ControlPosture]
    computed_at: datetime

    @cached_property
    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in STATUS_ORDER}
        for item in self.controls:
            counts[item.status] += 1
        return counts

    @property
    def status_rows(self) -> list[tuple[str, str, int]]:
        """``(status, label, count)`` in attention order (for summaries and charts)."""
        return [(s.value, s.label, self.counts[s.value]) for s in STATUS_ORDER]

    @property
    def assessable(self) -> int:
        return len(self.controls)

    @property
    def in_scope(self) -> int:
        """Assessable controls less the not applicable and the risk-accepted ones."""
        return self.assessable - sum(self.counts[s] for s in EXCLUDED_STATUSES)

    @property
    def readiness(self) -> float | None:
        """Percentage of in-scope controls that pass (risk-accepted controls are excluded
        from monitoring: in neither figure); None when nothing is in scope."""
        if not self.in_scope:
            return None
        return 100.0 * self.counts[ControlStatus.PASSING] / self.in_scope

    def top_failing(self, limit: int = 10) -> list[ControlPosture]:
        """Failing and erroring controls, worst severity first, then most failing results."""
        failing = [
            c for c in self.controls if c.status in (ControlStatus.FAILING, ControlStatus.ERROR)
        ]
        failing.sort(
            key=lambda c: (
                SEVERITY_RANK.get(c.worst_severity, 9),
                -c.failing_results,
                c.control.sort_order,
            )
        )
        return failing[:limit]

    def stale_next(self, limit: int = 10) -> list[ControlPosture]:
        """Controls with evidence, soonest expiry first (already stale ones lead)."""
        dated = [
            c
            for c in self.controls
            if c.expires_at is not None and c.status != ControlStatus.NOT_APPLICABLE
        ]
        dated.sort(key=lambda c: (c.expires_at, c.control.sort_order))
        return dated[:limit]


# --- Building blocks ----------------------------------------------------------------------


def assessable_controls(
    *, framework: Framework, as_of: datetime | None = None
) -> QuerySet[Control]:
    """Controls that carry a status: assessable, non-group nodes, in catalog order (annotated
    with their manual evidence state, see ``selectors_manual.manual_annotate_controls``),
    without the controls of Trust Services categories the report scope leaves out
    (:func:`scope_categories_exclude`; the scope version current at ``as_of``)."""
    return manual_annotate_controls(
        scope_categories_exclude(
            Control.objects.filter(framework=framework, assessable=True)
            .exclude(kind=Control.Kind.GROUP)
            .select_related("framework", "parent")
            .order_by("sort_order"),
            as_of=as_of,
        )
    )


def scope_categories_exclude(qs: QuerySet[Control], *, as_of: datetime | None = None):
    """``qs`` without controls whose category the framework's report scope leaves out.

    The scope (``reports.ScopeStatement``, append-only versions) is read inside the same query
    (a subquery per optional category), so no query is added. Without a scope every
    category counts; Security is always in scope.
    """
    from pixaudit.reports.models import OPTIONAL_CATEGORIES, ScopeStatement

    latest = ScopeStatement.objects.filter(framework=OuterRef("framework"))
    if as_of is not None:
        latest = latest.filter(created_at__lte=as_of)
    latest = latest.order_by("-created_at", "-id")
    for category in OPTIONAL_CATEGORIES:
        name = f"scope_{category.value}"
        in_scope = Coalesce(Subquery(latest.values(category.value)[:1]), Value(True))
        qs = qs.annotate(**{name: in_scope}).exclude(**{"category": category.value, name: False})
    return qs


def applicability_current(
    *, controls: list[Control] | None = None, framework=None, as_of: datetime | None = None
) -> dict:
    """control id -> latest ApplicabilityDecision (one query); with ``as_of``, the latest
    decided at or before that instant (what a report rendered then saw)."""
    qs = ApplicabilityDecision.objects.select_related("decided_by")
    if as_of is not None:
        qs = qs.filter(decided_at__lte=as_of)
    if controls is not None:
        qs = qs.filter(control_id__in=[c.pk for c in controls])
    elif framework is not None:
        qs = qs.filter(control__framework=framework)
    latest: dict[int, ApplicabilityDecision] = {}
    for decision in qs.order_by("decided_at", "id"):
        latest[decision.control_id] = decision
    return latest


def assertion_states(
    *, assertion_ids: set[str] | list[str], connections: Collection[int] | None = None
) -> dict[str, AssertionState]:
    """assertion id -> AssertionState from the current-state table (two queries).

    ``connections`` limits the results to those connections (e.g. the connections of one
    AWS account, ``?account=`` on the control pages); ``None`` means every connection.

    Results of every connection count: a FAIL or ERROR of one connection is never hidden by
    another connection's PASS for a resource of the same name (current state is keyed by
    connection). Freshness is judged per connection too: an assertion is stale when the
    freshest evidence of *any* connection that reports it has expired, so a second, fresh
    connection cannot make a stale one look current. Run-failure rows (a connection whose
    last collection failed) are ERROR results without evidence; they take no part in
    freshness.
    """
    states: dict[str, AssertionState] = {}
    if not assertion_ids:
        return states
    # Grouping by evidence item (a handful per assertion: one per connection) instead of
    # joining each current row to its item keeps this one pass over the small table; the
    # items' expiry comes from a second, tiny query.
    current = LatestResult.objects.filter(assertion_id__in=sorted(assertion_ids))
    if connections is not None:
        current = current.filter(connection_id__in=sorted(connections))
    rows = list(
        current.values("assertion_id", "status", "severity", "evidence_id", "connection_id")
        .annotate(n=Count("id"), last=Max("collected_at"))
        .order_by()
    )
    evidence_ids = {row["evidence_id"] for row in rows if row["evidence_id"] is not None}
    expiry = dict(EvidenceItem.objects.filter(pk__in=evidence_ids).values_list("pk", "expires_at"))
    # (assertion, connection) -> expiry of that connection's freshest evidence
    freshest: dict[tuple[str, int | None], datetime] = {}
    for row in rows:
        state = states.setdefault(row["assertion_id"], AssertionState(row["assertion_id"]))
        state.counts[row["status"]] = state.counts.get(row["status"], 0) + row["n"]
        if row["status"] in _NOT_PASSING and (
            not state.worst_severity
            or SEVERITY_RANK.get(row["severity"], 9) < SEVERITY_RANK.get(state.worst_severity, 9)
        ):
            state.worst_severity = row["severity"]
        if state.last_collected_at is None or row["last"] > state.last_collected_at:
            state.last_collected_at = row["last"]
        expires = expiry.get(row["evidence_id"])
        if expires is not None:
            key = (row["assertion_id"], row["connection_id"])
            if key not in freshest or expires > freshest[key]:
                freshest[key] = expires
    for (assertion_id, _), expires in freshest.items():
        state = states[assertion_id]
        if state.expires_at is None or expires < state.expires_at:
            state.expires_at = expires
    return states


def status_for(
    *,
    decision: ApplicabilityDecision | None,
    states: list[AssertionState],
    now: datetime,
    manual: ManualControlState | None = None,
) -> tuple[str, bool]:
    """``(status, stale)`` of one control from its decision, its assertions' states and its
    manual evidence state."""
    stale = any(state.stale(now) for state in states)
    if decision is not None and not decision.applicable:
        return ControlStatus.NOT_APPLICABLE, stale
    manual_pending = manual is not None and manual.pending(now.date())
    if not states:
        if manual_pending:
            return ControlStatus.MANUAL_PENDING, False
        if manual is not None and manual.valid(now.date()):
            return ControlStatus.PASSING, False
        return ControlStatus.NO_EVIDENCE, False
    counts: dict[str, int] = defaultdict(int)
    accepted = 0
    for state in states:
        for key, value in state.counts.items():
            counts[key] += value
        accepted += min(state.accepted, state.counts.get("fail", 0))
    if counts["fail"] > accepted:
        return ControlStatus.FAILING, stale
    if counts["error"]:
        return ControlStatus.ERROR, stale
    if counts["warn"]:
        return ControlStatus.WARNING, stale
    if manual_pending:
        return ControlStatus.MANUAL_PENDING, stale
    if stale:
        return ControlStatus.STALE, True
    if accepted:
        return ControlStatus.RISK_ACCEPTED, False
    return ControlStatus.PASSING, False


def _postures(
    controls: list[Control],
    mappings: dict[str, set[int]],
    now: datetime,
    connections: Collection[int] | None = None,
) -> list[ControlPosture]:
    by_control: dict[int, list[str]] = defaultdict(list)
    for assertion_id, control_ids in mappings.items():
        for control_id in control_ids:
            by_control[control_id].append(assertion_id)
    wanted = {a for c in controls for a in by_control.get(c.pk, ())}
    states = assertion_states(assertion_ids=wanted, connections=connections)
    _mark_accepted(states, now, connections)
    decisions = applicability_current(controls=controls)
    # Controls from assessable_controls carry their manual state; others cost two queries.
    annotated = all(hasattr(c, "manual_required") for c in controls)
    manual = {} if annotated else manual_states(addresses={c.address for c in controls})
    result = []
    for control in controls:
        ids = sorted(by_control.get(control.pk, ()))
        own = [states[a] for a in ids if a in states]
        decision = decisions.get(control.pk)
        own_manual = manual_state_of(control) if annotated else manual.get(control.address)
        status, stale = status_for(decision=decision, states=own, now=now, manual=own_manual)
        result.append(ControlPosture(control, status, ids, own, decision, stale, own_manual))
    return result


def _mark_accepted(
    states: dict[str, AssertionState], now: datetime, connections: Collection[int] | None
) -> None:
    """Set ``accepted`` on the states: open exceptions (= the FAIL rows of current state)
    with a risk acceptance in force now (one query, none without states)."""
    if not states:
        return
    for assertion_id, n in accepted_failures(
        assertion_ids=states, at=now, connections=connections
    ).items():
        states[assertion_id].accepted = n


# --- Public selectors ---------------------------------------------------------------------


def framework_posture(
    *, framework: Framework, now: datetime | None = None,
    connections: Collection[int] | None = None,
) -> FrameworkPosture:  # fmt: skip
    """Status of every assessable control of ``framework`` (seven queries); ``connections``
    judges only those connections' results (see :func:`assertion_states`)."""
    now = now or timezone.now()
    controls = list(assessable_controls(framework=framework))
    mappings = effective_mappings(framework=framework)
    return FrameworkPosture(framework, _postures(controls, mappings, now, connections), now)


def control_posture(
    *, control: Control, now: datetime | None = None, connections: Collection[int] | None = None
) -> ControlPosture:
    """Status of one control (same rules as :func:`framework_posture`)."""
    now = now or timezone.now()
    mappings = effective_mappings(framework=control.framework)
    return _postures([control], mappings, now, connections)[0]


def posture_filter(
    posture: FrameworkPosture,
    *,
    status: str = "",
    group: Control | None = None,
    q: str = "",
) -> list[ControlPosture]:
    """Filter a posture's controls by status, group (ref prefix) and ID/title search."""
    items = posture.controls
    if status:
        items = [c for c in items if c.status == status]
    if group is not None:
        prefix = f"{group.ref}."
        items = [c for c in items if c.control.ref.startswith(prefix)]
    for term in q.lower().split():
        items = [
            c for c in items if term in c.control.ref.lower() or term in c.control.title.lower()
        ]
    return items


def assertion_catalog() -> dict[str, dict[str, Any]]:
    """assertion id -> title, severity, remediation, collector key/title (no query)."""
    registry.discover()
    catalog: dict[str, dict[str, Any]] = {}
    for cls in registry.all_collectors():
        for item in cls.assertions:
            catalog[item.id] = {
                "id": item.id,
                "title": item.title,
                "severity": str(item.severity),
                "remediation": item.remediation,
                "collector_key": cls.key,
                "collector_title": cls.title,
            }
    return catalog


def collector_keys_for(assertion_ids: list[str]) -> list[str]:
    """Collectors whose evidence carries these assertions (``<key>.<what>`` naming)."""
    catalog = assertion_catalog()
    keys = {
        catalog[a]["collector_key"] if a in catalog else a.split(".", 1)[0] for a in assertion_ids
    }
    return sorted(keys)


def control_results(
    *, assertion_ids: list[str], only_failing: bool = False, limit: int = 200,
    connections: Collection[int] | None = None,
) -> list[LatestResult]:  # fmt: skip
    """Current results of some assertions, non-passing first (one query)."""
    if not assertion_ids:
        return []
    qs = LatestResult.objects.filter(assertion_id__in=assertion_ids).select_related("connection")
    if connections is not None:
        qs = qs.filter(connection_id__in=sorted(connections))
    if only_failing:
        qs = qs.filter(status__in=_NOT_PASSING)
    rows = list(qs.order_by("assertion_id", "resource")[: limit * 4 if not only_failing else limit])
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
    rows.sort(key=lambda r: (order.get(r.status, 9), SEVERITY_RANK.get(r.severity, 9), r.resource))
    return rows[:limit]


@dataclass
class SourceState:
    """Current results of one assertion from one connection (or from runs without one)."""

    assertion_id: str
    connection_id: int | None
    connection_name: str
    counts: dict[str, int] = field(default_factory=dict)
    last_collected_at: datetime | None = None
    failed_run_id: int | None = None  # the connection's last collection failed (this run)


def control_sources(
    *, assertion_ids: list[str], connections: Collection[int] | None = None
) -> dict[str, list[SourceState]]:
    """assertion id -> its current results per connection, by connection name (one query):
    where each result of a control comes from."""
    out: dict[str, list[SourceState]] = {}
    if not assertion_ids:
        return out
    current = LatestResult.objects.filter(assertion_id__in=assertion_ids)
    if connections is not None:
        current = current.filter(connection_id__in=sorted(connections))
    rows = (
        current.values("assertion_id", "connection_id", "connection__name", "status", "run_id")
        .annotate(n=Count("id"), last=Max("collected_at"))
        .order_by()
    )
    by_key: dict[tuple[str, int | None], SourceState] = {}
    for row in rows:
        key = (row["assertion_id"], row["connection_id"])
        source = by_key.get(key)
        if source is None:
            source = by_key[key] = SourceState(
                row["assertion_id"], row["connection_id"], row["connection__name"] or ""
            )
        source.counts[row["status"]] = source.counts.get(row["status"], 0) + row["n"]
        if source.last_collected_at is None or row["last"] > source.last_collected_at:
            source.last_collected_at = row["last"]
        if row["run_id"] is not None:
            source.failed_run_id = row["run_id"]
    for (assertion_id, _), source in sorted(
        by_key.items(), key=lambda kv: (kv[0][0], kv[1].connection_name, kv[0][1] or 0)
    ):
        out.setdefault(assertion_id, []).append(source)
    return out


@dataclass
class TimelineEntry:
    item: EvidenceItem
    counts: dict[str, int]
    manual: ManualEvidence | None = None  # an upload supporting the control

    @property
    def status(self) -> str:
        if self.manual is not None:
            # An upload proves the control until its valid-until date.
            valid = self.manual.valid_until >= self.item.collected_at.date()
            return ControlStatus.PASSING if valid else ControlStatus.STALE
        if self.counts.get("fail"):
            return ControlStatus.FAILING
        if self.counts.get("error"):
            return ControlStatus.ERROR
        if self.counts.get("warn"):
            return ControlStatus.WARNING
        if self.counts.get("pass"):
            return ControlStatus.PASSING
        return ControlStatus.NO_EVIDENCE

    @property
    def status_label(self) -> str:
        return ControlStatus(self.status).label


def control_timeline(
    *,
    assertion_ids: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    control: Control | None = None,
) -> list[TimelineEntry]:
    """Evidence items that carry the control's assertions, and (given ``control``) the
    manual uploads that support it, newest first, with the control's result counts in each
    (two queries). The period selects by collection time."""
    if not assertion_ids and control is None:
        return []
    manual = Q(pk__in=[])
    if control is not None:
        linked = ManualEvidenceControl.objects.filter(control=control)
        manual = Q(pk__in=linked.values("manual__evidence_id"))
    items_qs = EvidenceItem.objects.filter(
        Q(collector_key__in=collector_keys_for(assertion_ids)) | manual
    ).select_related("connection", "manual")
    findings = Finding.objects.filter(assertion_id__in=assertion_ids)
    if since is not None:
        items_qs = items_qs.filter(collected_at__gte=since)
        findings = findings.filter(collected_at__gte=since)
    if until is not None:
        items_qs = items_qs.filter(collected_at__lt=until)
        findings = findings.filter(collected_at__lt=until)
    items = list(items_qs.order_by("-collected_at", "-seq")[:limit])
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        findings.filter(evidence_id__in=[i.pk for i in items])
        .values("evidence_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["evidence_id"]][row["status"]] = row["n"]
    return [
        TimelineEntry(item, counts.get(item.pk, {}), _manual_of(item) if control else None)
        for item in items
    ]


def _manual_of(item: EvidenceItem) -> ManualEvidence | None:
    try:
        return item.manual
    except ManualEvidence.DoesNotExist:
        return None


def readiness_trend(
    *, framework: Framework, days: int = 90, today: date | None = None
) -> list[ReadinessSnapshot]:
    """The framework's daily snapshots over the last ``days`` days, oldest first.

    A day with several snapshots (the job ran again, ``make demo``) shows its latest one.
    """
    today = today or timezone.now().date()
    latest: dict[date, ReadinessSnapshot] = {}
    for snapshot in ReadinessSnapshot.objects.filter(
        framework=framework, day__gt=today - timedelta(days=days), day__lte=today
    ).order_by("day", "taken_at", "id"):
        latest[snapshot.day] = snapshot
    return list(latest.values())


def soa_entries(
    *, framework: Framework, as_of: datetime | None = None
) -> list[tuple[Control, ApplicabilityDecision | None]]:
    """The framework's controls (kind "control": Annex A for ISO 27001) with their latest
    applicability decision, optionally as of an instant (two queries)."""
    controls = list(
        Control.objects.filter(framework=framework, kind=Control.Kind.CONTROL)
        .select_related("parent")
        .order_by("sort_order")
    )
    decisions = applicability_current(framework=framework, as_of=as_of)
    return [(control, decisions.get(control.pk)) for control in controls]


def applicability_history(*, control: Control) -> QuerySet[ApplicabilityDecision]:
    return ApplicabilityDecision.objects.filter(control=control).select_related("decided_by")
