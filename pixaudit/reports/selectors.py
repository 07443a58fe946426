"""Reads for reports and packs: the state of a framework's controls over a period.

The posture app answers "how does each control look *now*" from the current-state table.
A report answers "how did it look over the period, and at its end", so this module reads
``Finding`` history inside the period instead (one grouped query), then applies the posture
app's own status rules (:func:`pixaudit.posture.selectors.status_for`) to the results of the
last collection of each connection in the period. Applicability decisions are those
recorded at the moment the data is read.

A report is rendered from the evidence in its period up to the chain head read first; the
rendered report pins that set (:class:`EvidencePin`: ids, chain head, the instant it was
read), and its pack and preview are rebuilt from the pin, so evidence collected after the
render never appears in them.

Every selector runs a constant number of queries whatever the volume of evidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, Max, Q
from django.utils import timezone

from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import effective_mappings
from pixaudit.evidence.models import MAX_ATTEMPTS, CollectionRun, EvidenceItem, Finding, RunStatus
from pixaudit.evidence.selectors import chain_head
from pixaudit.evidence.selectors_current import run_failure_rows
from pixaudit.posture.coverage import (
    ControlCoverage,
    CoverageWithout,
    FrameworkCoverage,
    framework_coverage,
    tested_in_window,
)
from pixaudit.posture.selectors import (
    EXCLUDED_STATUSES,
    SEVERITY_RANK,
    STATUS_ORDER,
    AssertionState,
    ControlStatus,
    applicability_current,
    assertion_catalog,
    assessable_controls,
    soa_entries,
    status_for,
)
from pixaudit.reports.models import Report, ReportEvidencePin, ReportStatus
from pixaudit.reports.periods import (  # noqa: F401 - re-exported for callers
    EngagementUnavailable,
    Period,
    engagement_scope,
    period_default,
)
from pixaudit.reports.selectors_aws import (
    AwsReportScope,
    accepted_outside,
    aws_breakdown,
    aws_collector_keys,
    aws_report_scope,
)
from pixaudit.reports.selectors_scope import (
    SampleSummary,
    control_narratives,
    engagement_samples,
    manual_in_period,
    manual_states_as_of,
    scope_statement_current,
)

#: Non-passing results listed per assertion in the PDF; the full table goes to the pack.
FAILING_SAMPLE = 15
_NOT_PASSING = ("fail", "error", "warn")
_STATUS_RANK = {"error": 0, "fail": 1, "warn": 2, "pass": 3}


class PinnedEvidenceMissing(LookupError):
    """Evidence a report was rendered from is no longer stored (e.g. removed by retention)."""


@dataclass(frozen=True)
class EvidencePin:
    """The evidence set of a rendered report: what its pack and preview are rebuilt from.

    ``evidence_ids`` are the items listed in the report; every one has ``seq <=
    chain_head_seq``. ``as_of`` is the instant the report's data was read: freshness and
    applicability decisions are evaluated as of then.
    """

    evidence_ids: tuple[int, ...]
    chain_head_seq: int
    chain_head_hash: str
    as_of: datetime
    #: A report limited to one AWS account or OU: the AWS integration connections it left
    #: out when rendered (None: not limited). Kept so a pack rebuilt after the accounts or
    #: OUs changed leaves out exactly what the PDF left out.
    aws_excluded: tuple[int, ...] | None = None


@dataclass
class EvidenceRow:
    id: int
    seq: int
    collector_key: str
    connection_id: int | None
    connection_name: str
    collected_at: datetime
    effective_at: datetime
    expires_at: datetime
    row_count: int
    findings_count: int
    sha256: str
    chain_hash: str
    artifact_path: str
    size: int
    run_id: int = 0
    controls: list[str] = field(default_factory=list)  # refs, in catalog order


@dataclass
class FindingRow:
    assertion_id: str
    resource: str
    status: str
    severity: str
    message: str
    collected_at: datetime
    evidence_id: int | None
    connection: str = ""  # name of the connection the result came from ("" for none)
    run_id: int | None = None  # a run-failure result: the connection's failed run
    evidence_seq: int | None = None  # chain number of its evidence item (cited in reports)


@dataclass
class AssertionResult:
    """One assertion over the period: its end-of-period results and its history."""

    assertion_id: str
    title: str
    severity: str
    remediation: str
    collector_key: str
    collector_title: str
    counts: dict[str, int] = field(default_factory=dict)  # at the end of the period
    thresholds: dict[str, Any] = field(default_factory=dict)
    collections: int = 0  # evidence items in the period that carry it
    collections_failing: int = 0  # ... of which had a FAIL or ERROR result
    failing: list[FindingRow] = field(default_factory=list)  # sample, worst first
    failing_total: int = 0
    last_collected_at: datetime | None = None
    expires_at: datetime | None = None
    latest_evidence_ids: list[int] = field(default_factory=list)
    latest_evidence_seqs: list[int] = field(default_factory=list)  # cited in the report
    #: End-of-period counts per connection (the per-account breakdown of AWS controls).
    by_connection: dict[int | None, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failing_more(self) -> int:
        return max(self.failing_total - len(self.failing), 0)


@dataclass
class ControlSection:
    control: Control
    status: str
    stale: bool
    decision: Any  # ApplicabilityDecision | None
    assertions: list[AssertionResult]
    evidence: list[EvidenceRow]
    narrative: Any = None  # ControlNarrative | None: the organisation's description
    manual: list[Any] = field(default_factory=list)  # ManualEvidence chained in the period
    #: The control's day-by-day coverage of the period (the report's Coverage chapter).
    coverage: ControlCoverage | None = None
    #: Its exceptions in the period (``exceptions.selectors.ExceptionRow``, oldest first),
    #: set when the report is rendered (``rendering.report_context``).
    exceptions: list[Any] = field(default_factory=list)
    #: Tested by an AWS collector or by an AWS integration's connections: a report limited
    #: to one AWS account or OU says its scope in this control's section (only set then).
    aws: bool = False

    @property
    def status_label(self) -> str:
        return ControlStatus(self.status).label

    @property
    def tested(self) -> bool:
        """Some evidence speaks to the control in the period: the Coverage chapter's own
        answer (:func:`pixaudit.posture.coverage.tested_in_window` over its days), so
        evidence collected before the period and still fresh at its start counts.

        A control that is not tested says "Not tested: no evidence in the period", never
        that it had no exceptions."""
        collected = bool(self.evidence or self.manual)
        if self.coverage is not None:
            return tested_in_window(self.coverage.days, collected=collected)
        return collected

    @property
    def carried_only(self) -> bool:
        """Tested only by evidence carried into the period (none collected or uploaded in it)."""
        return self.tested and not self.evidence and not self.manual

    @property
    def totals(self) -> dict[str, int]:
        """End-of-period results per status, summed over the control's assertions."""
        out = {"pass": 0, "fail": 0, "warn": 0, "error": 0}
        for result in self.assertions:
            for status, n in result.counts.items():
                out[status] = out.get(status, 0) + n
        return out

    @property
    def collections(self) -> int:
        return len(self.evidence)

    @property
    def group(self) -> Control | None:
        return self.control.parent

    @property
    def assertions_with_results(self) -> list[AssertionResult]:
        return [a for a in self.assertions if a.total]

    @property
    def assertions_without_results(self) -> list[AssertionResult]:
        return [a for a in self.assertions if not a.total]

    @property
    def evidence_ids(self) -> list[int]:
        return [e.id for e in self.evidence]


@dataclass
class ReportData:
    framework: Framework
    period: Period
    generated_at: datetime
    org_name: str
    version: str
    chain_head_seq: int
    chain_head_hash: str
    sections: list[ControlSection]
    evidence: list[EvidenceRow]
    soa: list[tuple[Control, Any]]
    daily_pass_rate: list[tuple[date, float]]
    engagement_id: int | None = None
    engagement_name: str = ""
    #: True when rebuilt from a rendered report's pin (pack, preview), not read afresh.
    pinned: bool = False
    scope: Any = None  # ScopeStatement | None, the version current when the data was read
    samples: list[SampleSummary] = field(default_factory=list)  # engagement reports only
    #: Day-by-day coverage of the period (``pixaudit.posture.coverage``), as of ``now``.
    coverage: FrameworkCoverage | None = None
    #: End-of-period results of the AWS controls per AWS account (:func:`aws_breakdown`).
    aws_accounts: list[Any] = field(default_factory=list)
    #: Limited to one AWS account or OU (:class:`AwsReportScope`), None: every account.
    aws_scope: AwsReportScope | None = None

    def pin(self) -> EvidencePin:
        """The pin that rebuilds exactly this data later (recorded when a report renders)."""
        return EvidencePin(
            evidence_ids=tuple(sorted(e.id for e in self.evidence)),
            chain_head_seq=self.chain_head_seq,
            chain_head_hash=self.chain_head_hash,
            as_of=self.generated_at,
            aws_excluded=(
                tuple(sorted(self.aws_scope.excluded)) if self.aws_scope is not None else None
            ),
        )

    @property
    def status_rows(self) -> list[tuple[str, str, int]]:
        """``(status, label, count)`` in the dashboard's order (``posture.STATUS_ORDER``)."""
        counts: dict[str, int] = defaultdict(int)
        for section in self.sections:
            counts[section.status] += 1
        return [(s.value, s.label, counts[s.value]) for s in STATUS_ORDER]

    @property
    def in_scope(self) -> int:
        """Controls less the not applicable and the risk-accepted ones (as the dashboard)."""
        return sum(1 for s in self.sections if s.status not in EXCLUDED_STATUSES)

    @property
    def readiness(self) -> float | None:
        if not self.in_scope:
            return None
        passing = sum(1 for s in self.sections if s.status == ControlStatus.PASSING)
        return 100.0 * passing / self.in_scope

    @property
    def tested_sections(self) -> list[ControlSection]:
        return [s for s in self.sections if s.assertions]

    @property
    def untested_sections(self) -> list[ControlSection]:
        """In-scope controls without any evidence in the period."""
        return [
            s for s in self.sections
            if not s.tested and s.status != ControlStatus.NOT_APPLICABLE
        ]  # fmt: skip

    @property
    def evidence_seq(self) -> dict[int, int]:
        """evidence id -> its chain sequence number (how findings cite the appendix)."""
        return {e.id: e.seq for e in self.evidence}

    @property
    def exceptions(self) -> list[ControlSection]:
        """Controls excluded by the Statement of Applicability."""
        return [s for s in self.sections if s.status == ControlStatus.NOT_APPLICABLE]


#: The collector of the data-subject request register (``pixaudit.privacy``): its evidence
#: is shared with auditors and packed only when selected (issue 20).
PRIVACY_REGISTER_COLLECTOR = "privacy_requests"


# --- Building blocks ----------------------------------------------------------------------


def evidence_in_period(*, period: Period, up_to_seq: int | None = None) -> list[EvidenceRow]:
    """Every evidence item collected in the period, in chain order (one query); with
    ``up_to_seq``, only items appended to the chain up to that sequence number."""
    items = EvidenceItem.objects.filter(
        collected_at__gte=period.since, collected_at__lt=period.until
    )
    if up_to_seq is not None:
        items = items.filter(seq__lte=up_to_seq)
    rows = (
        items.order_by("seq")
        .values_list(
            "id", "seq", "collector_key", "connection_id", "connection__name", "collected_at",
            "effective_at", "expires_at", "row_count", "findings_count", "sha256", "chain_hash",
            "artifact_path", "size", "run_id",
        )
    )  # fmt: skip
    return [
        EvidenceRow(*row[:4], row[4] or "", *row[5:])  # type: ignore[misc]
        for row in rows.iterator(chunk_size=2000)
    ]


def _evidence_pinned(*, period: Period, pin: EvidencePin) -> list[EvidenceRow]:
    """The pinned items, read with the same one query (and checked: none may be missing)."""
    wanted = set(pin.evidence_ids)
    rows = [
        row
        for row in evidence_in_period(period=period, up_to_seq=pin.chain_head_seq)
        if row.id in wanted
    ]
    missing = wanted - {row.id for row in rows}
    if missing:
        shown = ", ".join(str(i) for i in sorted(missing)[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise PinnedEvidenceMissing(
            f"{len(missing)} evidence item(s) the report was rendered from are no longer "
            f"stored in its period (ids {shown}{more}); run manage.py verify_evidence"
        )
    return rows


def _assertion_meta(assertion_id: str, catalog: dict[str, dict[str, Any]]) -> AssertionResult:
    meta = catalog.get(assertion_id) or {}
    collector_key = meta.get("collector_key") or assertion_id.split(".", 1)[0]
    return AssertionResult(
        assertion_id=assertion_id,
        title=meta.get("title") or assertion_id,
        severity=meta.get("severity") or "",
        remediation=meta.get("remediation") or "",
        collector_key=collector_key,
        collector_title=meta.get("collector_title") or collector_key,
    )


def _period_history(
    assertion_ids: list[str], period: Period, evidence_by_id: dict[int, EvidenceRow]
) -> dict[str, dict[int, dict[str, int]]]:
    """assertion -> evidence id -> status -> count, over the period (one grouped query)."""
    out: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    if not assertion_ids:
        return out
    rows = (
        Finding.objects.filter(
            assertion_id__in=assertion_ids,
            collected_at__gte=period.since,
            collected_at__lt=period.until,
        )
        .values_list("assertion_id", "evidence_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for assertion_id, evidence_id, status, n in rows:
        if evidence_id in evidence_by_id:
            out[assertion_id][evidence_id][status] = n
    return out


def _fill_results(
    results: dict[str, AssertionResult],
    history: dict[str, dict[int, dict[str, int]]],
    evidence_by_id: dict[int, EvidenceRow],
) -> None:
    """Counts at period end = the last collection of each connection that carries it."""
    for assertion_id, per_item in history.items():
        result = results.get(assertion_id)
        if result is None:
            continue
        latest: dict[int | None, EvidenceRow] = {}
        for evidence_id, counts in per_item.items():
            item = evidence_by_id[evidence_id]
            result.collections += 1
            if counts.get("fail") or counts.get("error"):
                result.collections_failing += 1
            current = latest.get(item.connection_id)
            if current is None or item.seq > current.seq:
                latest[item.connection_id] = item
        for item in latest.values():
            own = result.by_connection.setdefault(item.connection_id, {})
            for status, n in per_item[item.id].items():
                result.counts[status] = result.counts.get(status, 0) + n
                own[status] = own.get(status, 0) + n
            result.failing_total += sum(per_item[item.id].get(s, 0) for s in _NOT_PASSING)
            result.latest_evidence_ids.append(item.id)
            if result.last_collected_at is None or item.collected_at > result.last_collected_at:
                result.last_collected_at = item.collected_at
            # Per connection, its last collection counts; over connections, the earliest
            # expiry: a fresh connection does not make another one's expired evidence current.
            if result.expires_at is None or item.expires_at < result.expires_at:
                result.expires_at = item.expires_at


def _fill_run_failures(
    results: dict[str, AssertionResult],
    period: Period,
    evidence_by_id: dict[int, EvidenceRow],
    now: datetime,
    excluded: frozenset[int] = frozenset(),
) -> None:
    """A connection whose last collection in the period failed for good (after its last
    stored evidence in the period) has an ERROR result for every assertion it proves, as on
    the dashboard (``selectors_current``): the report never shows its earlier results as the
    period's last word (two queries)."""
    until = min(period.until, now)
    runs = CollectionRun.objects.filter(
        finished_at__gte=period.since, finished_at__lt=until, connection__isnull=False
    ).filter(Q(status=RunStatus.FAILED) & (Q(error_permanent=True) | Q(attempt__gte=MAX_ATTEMPTS)))
    newest = dict(
        runs.values("connection_id").annotate(last=Max("id")).values_list("connection_id", "last")
    )
    stored: dict[int, int] = {}
    for item in evidence_by_id.values():
        if item.connection_id is not None:
            stored[item.connection_id] = max(stored.get(item.connection_id, 0), item.run_id)
    failed = [
        run
        for conn, run in newest.items()
        if run > stored.get(conn, 0) and conn not in excluded  # other AWS accounts: out
    ]
    if not failed:
        return
    for run in CollectionRun.objects.filter(pk__in=failed).select_related("connection"):
        own = {
            a.assertion_id: (a.severity, [])
            for a in results.values()
            if any(
                evidence_by_id[i].connection_id == run.connection_id for i in a.latest_evidence_ids
            )
        }
        for row in run_failure_rows(run=run, current=own):
            result = results.get(row.assertion_id)
            if result is None:
                continue
            result.counts["error"] = result.counts.get("error", 0) + 1
            own = result.by_connection.setdefault(run.connection_id, {})
            own["error"] = own.get("error", 0) + 1
            result.failing_total += 1
            result.failing.insert(
                0,
                FindingRow(
                    row.assertion_id, row.resource, "error", row.severity, row.message,
                    run.finished_at, None, run.connection.name, run.pk,
                ),
            )  # fmt: skip
            result.failing = result.failing[:FAILING_SAMPLE]


def _fill_failing_and_thresholds(
    results: dict[str, AssertionResult], evidence_by_id: dict[int, EvidenceRow]
) -> None:
    """A worst-first sample of non-passing results and the thresholds (two queries)."""
    latest_ids = sorted({i for r in results.values() for i in r.latest_evidence_ids})
    if not latest_ids:
        return
    wanted = {(r.assertion_id, i) for r in results.values() for i in r.latest_evidence_ids}
    failing = (
        Finding.objects.filter(
            evidence_id__in=latest_ids,
            assertion_id__in=list(results),
            status__in=_NOT_PASSING,
        )
        .values_list(
            "assertion_id", "resource", "status", "severity", "message", "collected_at",
            "evidence_id",
        )
        .order_by("assertion_id", "resource")
    )  # fmt: skip
    buckets: dict[str, list[FindingRow]] = defaultdict(list)
    for row in failing.iterator(chunk_size=5000):
        if (row[0], row[6]) in wanted:
            buckets[row[0]].append(FindingRow(*row, evidence_by_id[row[6]].connection_name))
    for assertion_id, rows in buckets.items():
        rows.sort(
            key=lambda f: (
                _STATUS_RANK.get(f.status, 9),
                SEVERITY_RANK.get(f.severity, 9),
                f.resource,
            )
        )
        results[assertion_id].failing = rows[:FAILING_SAMPLE]
    thresholds = (
        Finding.objects.filter(evidence_id__in=latest_ids, assertion_id__in=list(results))
        .values_list("assertion_id", "thresholds")
        .distinct()
        .order_by("assertion_id")
    )
    for assertion_id, value in thresholds:
        if value and not results[assertion_id].thresholds:
            results[assertion_id].thresholds = value


def _daily_pass_rate(evidence: list[EvidenceRow], history) -> list[tuple[date, float]]:
    """Share of passing results per collection day, over the framework's assertions."""
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    by_id = {e.id: e for e in evidence}
    for per_item in history.values():
        for evidence_id, counts in per_item.items():
            day = by_id[evidence_id].collected_at.astimezone(UTC).date()
            per_day[day][0] += counts.get("pass", 0)
            per_day[day][1] += sum(counts.values())
    return [(d, 100.0 * p / t) for d, (p, t) in sorted(per_day.items()) if t]


# --- Public selectors ---------------------------------------------------------------------


def report_data(
    *,
    framework: Framework,
    period: Period,
    now: datetime | None = None,
    engagement_id: int | None = None,
    engagement_name: str = "",
    pin: EvidencePin | None = None,
    include_privacy_register: bool = True,
    aws_account: str = "",
    aws_ou: str = "",
    aws_scope_label: str = "",
) -> ReportData:
    """Everything a report, a pack and an OSCAL export say about a framework and a period.

    ``include_privacy_register=False`` leaves the data-subject request register's evidence
    (collector :data:`PRIVACY_REGISTER_COLLECTOR`) out of everything: listed evidence,
    results, the pin and therefore the pack (reports and engagements not selecting it).

    Without ``pin`` the data is read afresh: the chain head first, then the period's
    evidence up to that head (so an item appended meanwhile is neither listed nor counted
    in the head). With ``pin`` (a rendered report's) exactly the pinned evidence is used, as
    of the instant it was pinned; :class:`PinnedEvidenceMissing` if an item is gone.

    ``aws_account`` / ``aws_ou`` limit the report to one AWS account or OU
    (:func:`aws_report_scope`): evidence, results, run failures and risk acceptances of the
    other accounts' AWS integration connections are left out; everything else is kept.
    Coverage by day of the AWS checks is rolled up afresh without those connections
    (``posture.coverage.CoverageWithout``).
    """
    from django.conf import settings

    if pin is None:
        now = now or timezone.now()
        seq, head = chain_head()
        evidence = evidence_in_period(period=period, up_to_seq=seq)
    else:
        now = pin.as_of
        seq, head = pin.chain_head_seq, pin.chain_head_hash
        evidence = _evidence_pinned(period=period, pin=pin)
    if not include_privacy_register:
        evidence = [e for e in evidence if e.collector_key != PRIVACY_REGISTER_COLLECTOR]
    aws = aws_report_scope(account=aws_account, ou=aws_ou, label=aws_scope_label, pin=pin)
    # Only a scoped report needs to know which checks are AWS checks (one query).
    aws_keys = aws_collector_keys(evidence) if aws is not None else set()
    if aws is not None:
        evidence = [e for e in evidence if e.connection_id not in aws.excluded]
    excluded = aws.excluded if aws is not None else frozenset()
    controls = list(assessable_controls(framework=framework, as_of=now))
    control_ids = {c.pk for c in controls}
    mappings = {a: ids & control_ids for a, ids in effective_mappings(framework=framework).items()}
    mappings = {a: ids for a, ids in mappings.items() if ids}
    catalog = assertion_catalog()
    results = {a: _assertion_meta(a, catalog) for a in sorted(mappings)}
    evidence_by_id = {e.id: e for e in evidence}
    history = _period_history(sorted(results), period, evidence_by_id)
    _fill_results(results, history, evidence_by_id)
    _fill_failing_and_thresholds(results, evidence_by_id)
    _fill_run_failures(results, period, evidence_by_id, now, excluded)
    for result in results.values():
        result.latest_evidence_seqs = sorted(
            evidence_by_id[i].seq for i in result.latest_evidence_ids
        )
        for row in result.failing:
            if row.evidence_id in evidence_by_id:
                row.evidence_seq = evidence_by_id[row.evidence_id].seq

    by_control: dict[int, list[str]] = defaultdict(list)
    for assertion_id, ids in mappings.items():
        for control_id in ids:
            by_control[control_id].append(assertion_id)
    evidence_controls: dict[int, set[int]] = defaultdict(set)
    for assertion_id, per_item in history.items():
        for evidence_id in per_item:
            evidence_controls[evidence_id].update(mappings.get(assertion_id, ()))
    decisions = applicability_current(controls=controls, as_of=now)
    as_of = min(now, period.until)
    manual_states = manual_states_as_of(controls=controls, as_of=as_of)
    # FAIL results at the period end whose exceptions had a risk acceptance in force then.
    accepted = accepted_outside(results, as_of, seq, excluded)
    manual = manual_in_period(controls=controls, period=period, up_to_seq=seq)
    if pin is not None:
        pinned_ids = set(pin.evidence_ids)
        manual = {k: [m for m in v if m.evidence_id in pinned_ids] for k, v in manual.items()}
    narratives = control_narratives(controls=controls, as_of=now)
    without = None
    if aws is not None:  # the other AWS accounts' connections leave the coverage too
        without = CoverageWithout(
            connections=aws.excluded,
            collector_keys=frozenset(aws_keys),
            up_to_seq=seq,
            collectors={a: meta.get("collector_key", "") for a, meta in catalog.items()},
        )
    coverage = framework_coverage(
        framework=framework, start=period.start, end=period.end, now=now, without=without
    )
    coverage_of = {item.control.pk: item for item in coverage.controls}
    sections = []
    for control in controls:
        own = [results[a] for a in sorted(by_control.get(control.pk, ()))]
        states = [
            AssertionState(
                a.assertion_id,
                dict(a.counts),
                expires_at=a.expires_at,
                last_collected_at=a.last_collected_at,
                accepted=accepted.get(a.assertion_id, 0),
            )
            for a in own
            if a.counts
        ]
        decision = decisions.get(control.pk)
        status, stale = status_for(
            decision=decision, states=states, now=as_of, manual=manual_states.get(control.pk)
        )
        items = [e for e in evidence if control.pk in evidence_controls.get(e.id, ())]
        sections.append(
            ControlSection(
                control,
                status,
                stale,
                decision,
                own,
                items,
                narratives.get(control.pk),
                manual.get(control.pk, []),
                coverage_of.get(control.pk),
                aws=any(a.collector_key in aws_keys for a in own),
            )  # fmt: skip
        )
    # The Coverage chapter knows what was collected in the period too (one meaning of
    # "tested": coverage.tested_in_window, used by both chapters).
    collected = {s.control.pk for s in sections if s.evidence or s.manual}
    coverage = replace(
        coverage,
        controls=tuple(
            replace(c, collected=True) if c.control.pk in collected else c
            for c in coverage.controls
        ),
    )
    coverage_of = {item.control.pk: item for item in coverage.controls}
    for section in sections:
        section.coverage = coverage_of.get(section.control.pk)
    refs = {c.pk: c.ref for c in controls}
    order = {c.pk: c.sort_order for c in controls}
    for item in evidence:
        ids = sorted(evidence_controls.get(item.id, ()), key=lambda pk: order[pk])
        item.controls = [refs[pk] for pk in ids]
    return ReportData(
        framework=framework,
        period=period,
        generated_at=now,
        org_name=settings.PIXAUDIT_ORG_NAME,
        version=settings.PIXAUDIT_VERSION,
        chain_head_seq=seq,
        chain_head_hash=head,
        sections=sections,
        evidence=evidence,
        soa=soa_entries(framework=framework, as_of=now),
        daily_pass_rate=_daily_pass_rate(evidence, history),
        engagement_id=engagement_id,
        engagement_name=engagement_name,
        pinned=pin is not None,
        scope=scope_statement_current(framework=framework, as_of=now),
        samples=[
            s
            for s in (
                engagement_samples(engagement_id=engagement_id, as_of=now)
                if engagement_id is not None
                else []
            )
            if s.sample.control is None or s.sample.control.framework_id == framework.pk
        ],
        coverage=coverage,
        aws_accounts=aws_breakdown(sections),
        aws_scope=aws,
    )


def evidence_pin_current(*, period: Period, now: datetime | None = None) -> EvidencePin:
    """The pin a report of ``period`` rendered now would record (two queries)."""
    seq, head = chain_head()
    ids = tuple(sorted(e.id for e in evidence_in_period(period=period, up_to_seq=seq)))
    return EvidencePin(ids, seq, head, now or timezone.now())


def report_evidence_pin(*, report: Report) -> EvidencePin | None:
    """The evidence pin recorded when ``report`` rendered; None if it has none (not rendered
    yet, or rendered before reports pinned their evidence)."""
    row = ReportEvidencePin.objects.filter(report_id=report.pk).first()
    if row is None:
        return None
    excluded = row.aws_excluded_connections
    return EvidencePin(
        evidence_ids=tuple(row.evidence_ids),
        chain_head_seq=report.chain_head_seq,
        chain_head_hash=report.chain_head_hash,
        as_of=row.as_of,
        aws_excluded=tuple(excluded) if excluded is not None else None,
    )


def report_evidence_pin_summary(*, report: Report) -> dict[str, Any] | None:
    """``{"evidence_count", "as_of"}`` of ``report``'s pin, without loading its ids."""
    return (
        ReportEvidencePin.objects.filter(report_id=report.pk)
        .values("evidence_count", "as_of")
        .first()
    )


def report_latest_succeeded(
    *,
    framework: Framework,
    period: Period,
    engagement_id: int | None,
    aws_account: str = "",
    aws_ou: str = "",
) -> Report | None:
    """The newest succeeded report of exactly this framework, period, engagement and AWS
    scope (by default: not limited to an AWS account or OU)."""
    return (
        Report.objects.select_related("framework")
        .filter(
            framework=framework,
            period_start=period.start,
            period_end=period.end,
            engagement_id=engagement_id,
            aws_account=aws_account,
            aws_ou=aws_ou,
            status=ReportStatus.SUCCEEDED,
        )
        .order_by("-finished_at", "-id")
        .first()
    )
