"""Coverage over a window: each control's status on each UTC day, and the figures from it.

The one definition used by pages, reports, OSCAL and the API (``docs/architecture.md``,
"As built: coverage over a window"). Read-only selectors over the daily rollup
(``CoverageDay``), the Statement of Applicability history and manual evidence dates; a
constant number of queries whatever the size of the history.

A control's status on day *d*, first match wins:

1. ``not_applicable``: the latest SoA decision made by the end of *d* excludes it.
2. ``failing``: a mapped assertion recorded (or carried) a FAIL on *d*.
3. ``error``: a mapped assertion recorded (or carried) an ERROR or WARN on *d*.
4. ``manual_expired``: the control needs manual evidence (flagged by *d*, or evidenced by
   an upload effective by *d*) and no upload is valid on *d*.
5. ``stale``: a mapped assertion's evidence had expired (``max_age``) by the end of *d*.
6. ``passing``: mapped assertions have results, all passing and fresh.
7. ``manual_valid``: no automated results, but an upload is valid on *d*
   (``effective_on`` <= *d* <= ``valid_until``).
8. ``no_evidence``: nothing at all (also every day after today).

An assertion's result on *d* is the worst result recorded on *d* (with the current state
after each collection of that day); on a day without a collection, the state after the last
collection before it carries over. So a failure recorded and fixed within one day is a
failing day; the day a fix is recorded is passing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import effective_mappings
from pixaudit.evidence.models import ManualEvidenceControl, ManualRequirement
from pixaudit.posture.models import ApplicabilityDecision, CoverageDay

__all__ = [
    "ControlCoverage",
    "DayStatus",
    "FrameworkCoverage",
    "control_coverage",
    "framework_coverage",
]


class DayStatus(models.TextChoices):
    PASSING = "passing", "Passing"
    FAILING = "failing", "Failing"
    ERROR = "error", "Error"
    STALE = "stale", "Stale evidence"
    NO_EVIDENCE = "no_evidence", "No evidence"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    MANUAL_VALID = "manual_valid", "Manual evidence valid"
    MANUAL_EXPIRED = "manual_expired", "Manual evidence expired"


_PASSING = frozenset({DayStatus.PASSING, DayStatus.MANUAL_VALID})
_WITHOUT = frozenset({DayStatus.NO_EVIDENCE, DayStatus.STALE, DayStatus.MANUAL_EXPIRED})
_TESTED = frozenset({DayStatus.PASSING, DayStatus.FAILING, DayStatus.ERROR, DayStatus.MANUAL_VALID})


class _Counters:
    """Day counters shared by control and framework coverage (over ``_all_days``)."""

    def _all_days(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _count(self, statuses) -> int:
        return sum(1 for s in self._all_days() if s in statuses)

    @property
    def days_passing(self) -> int:
        """Days covered by passing evidence (automated or a valid manual upload)."""
        return self._count(_PASSING)

    @property
    def days_failing(self) -> int:
        return self._count({DayStatus.FAILING})

    @property
    def days_error(self) -> int:
        return self._count({DayStatus.ERROR})

    @property
    def days_without_evidence(self) -> int:
        """No evidence, stale evidence or expired manual evidence."""
        return self._count(_WITHOUT)

    @property
    def days_not_applicable(self) -> int:
        return self._count({DayStatus.NOT_APPLICABLE})

    @property
    def days_in_scope(self) -> int:
        return sum(1 for s in self._all_days() if s != DayStatus.NOT_APPLICABLE)

    @property
    def coverage_pct(self) -> float | None:
        """Passing days / in-scope days × 100; None when no day is in scope."""
        in_scope = self.days_in_scope
        return None if not in_scope else 100.0 * self.days_passing / in_scope

    @property
    def coverage_display(self) -> str:
        """The coverage as every page, report and export prints it: ``87.8%`` or ``n/a``."""
        pct = self.coverage_pct
        return "n/a" if pct is None else f"{pct:.1f}%"


@dataclass(frozen=True)
class ControlCoverage(_Counters):
    """One control's status on each day of ``start``..``end`` (inclusive, UTC days)."""

    control: Control
    start: date
    end: date
    days: tuple[str, ...]

    def _all_days(self):
        return self.days

    @property
    def tested(self) -> bool:
        """Any day with a result (passing, failing, error or valid manual evidence)."""
        return any(s in _TESTED for s in self.days)

    def day_items(self) -> list[tuple[date, str]]:
        """``(day, status)`` for each day of the window."""
        return [(self.start + timedelta(days=i), s) for i, s in enumerate(self.days)]

    def ranges(self, *statuses: str) -> list[tuple[date, date]]:
        """Maximal runs of consecutive days whose status is one of ``statuses``."""
        wanted = set(statuses)
        result: list[tuple[date, date]] = []
        run_start = None
        for i, status in enumerate(self.days):
            if status in wanted:
                if run_start is None:
                    run_start = i
            elif run_start is not None:
                result.append(self._span(run_start, i - 1))
                run_start = None
        if run_start is not None:
            result.append(self._span(run_start, len(self.days) - 1))
        return result

    def _span(self, first: int, last: int) -> tuple[date, date]:
        return self.start + timedelta(days=first), self.start + timedelta(days=last)

    @property
    def ranges_without_evidence(self) -> list[tuple[date, date]]:
        """Runs of days with no, stale or expired manual evidence (for plain statements)."""
        return self.ranges(*_WITHOUT)

    @property
    def without_evidence_text(self) -> str:
        """Those runs in words: ``2026-01-30, 2026-02-01 to 2026-02-09`` (``none``)."""
        parts = [
            a.isoformat() if a == b else f"{a.isoformat()} to {b.isoformat()}"
            for a, b in self.ranges_without_evidence
        ]
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class FrameworkCoverage(_Counters):
    """Every assessable control of a framework over ``start``..``end``, catalogue order."""

    framework: Framework
    start: date
    end: date
    controls: tuple[ControlCoverage, ...]

    def _all_days(self):
        for item in self.controls:
            yield from item.days

    @property
    def controls_not_tested(self) -> int:
        return sum(1 for item in self.controls if not item.tested)

    @property
    def window_days(self) -> int:
        return (self.end - self.start).days + 1


# --- Computation ----------------------------------------------------------------------------


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _assertion_days(
    assertion_ids: set[str], start: date, end: date, now: datetime
) -> dict[str, list[str]]:
    """assertion -> per-day result ('fail', 'error', 'stale', 'pass' or '') (two queries)."""
    if not assertion_ids:
        return {}
    ids = sorted(assertion_ids)
    fields = ("assertion_id", "day", "status", "end_status", "end_expires_at")
    in_window = CoverageDay.objects.filter(assertion_id__in=ids, day__range=(start, end))
    last_before = CoverageDay.objects.filter(
        assertion_id=OuterRef("assertion_id"), day__lt=start
    ).order_by("-day")
    prior = CoverageDay.objects.filter(
        assertion_id__in=ids, day__lt=start, day=Subquery(last_before.values("day")[:1])
    )
    carry: dict[str, tuple[str, datetime | None]] = {}
    for assertion_id, _, _, end_status, expires in prior.values_list(*fields):
        carry[assertion_id] = (end_status, expires)
    rows: dict[str, dict[date, tuple[str, str, datetime | None]]] = defaultdict(dict)
    for assertion_id, day, status, end_status, expires in in_window.values_list(*fields):
        rows[assertion_id][day] = (status, end_status, expires)
    today = now.astimezone(UTC).date()
    count = (end - start).days + 1
    cutoffs = [min(_midnight_after(start + timedelta(days=i)), now) for i in range(count)]
    result: dict[str, list[str]] = {}
    for assertion_id in ids:
        state = carry.get(assertion_id, ("", None))
        own = rows.get(assertion_id, {})
        days: list[str] = []
        for i in range(count):
            day = start + timedelta(days=i)
            if day > today:
                days.append("")
                continue
            row = own.get(day)
            if row is not None:
                base, expires = row[0], row[2]
                state = (row[1], row[2])
            else:
                base, expires = state
            if base == "pass" and expires is not None and expires < cutoffs[i]:
                base = "stale"
            days.append(base)
        result[assertion_id] = days
    return result


def _soa_days(control_ids: list[int], start: date, end: date) -> dict[int, list[bool]]:
    """control -> per-day "excluded by the SoA as of the end of that day" (one query)."""
    decisions: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
    rows = (
        ApplicabilityDecision.objects.filter(
            control_id__in=control_ids, decided_at__lt=_midnight_after(end)
        )
        .order_by("decided_at", "id")
        .values_list("control_id", "decided_at", "applicable")
    )
    for control_id, decided_at, applicable in rows:
        decisions[control_id].append((decided_at, applicable))
    count = (end - start).days + 1
    result: dict[int, list[bool]] = {}
    for control_id, items in decisions.items():
        excluded, pos, flags = False, 0, []
        for i in range(count):
            cutoff = _midnight_after(start + timedelta(days=i))
            while pos < len(items) and items[pos][0] < cutoff:
                excluded = not items[pos][1]
                pos += 1
            flags.append(excluded)
        result[control_id] = flags
    return result


def _manual(control_ids: list[int]) -> tuple[dict[int, list], dict[int, date]]:
    """control -> [(effective_on, valid_until)] of its uploads; control -> required since."""
    uploads: dict[int, list[tuple[date, date]]] = defaultdict(list)
    links = ManualEvidenceControl.objects.filter(control_id__in=control_ids).values_list(
        "control_id", "manual__effective_on", "manual__valid_until"
    )
    for control_id, effective_on, valid_until in links:
        uploads[control_id].append((effective_on, valid_until))
    required = {
        control_id: created_at.astimezone(UTC).date()
        for control_id, created_at in ManualRequirement.objects.filter(
            control_id__in=control_ids
        ).values_list("control_id", "created_at")
    }
    return uploads, required


_AUTO_RANK = {"": 0, "pass": 1, "stale": 2, "error": 3, "fail": 4}


def _coverages(
    controls: list[Control], mappings: dict[str, set[int]], start: date, end: date, now
) -> list[ControlCoverage]:
    if end < start:
        raise ValueError("The window ends before it starts.")
    by_control: dict[int, list[str]] = defaultdict(list)
    for assertion_id, control_ids in mappings.items():
        for control_id in control_ids:
            by_control[control_id].append(assertion_id)
    ids = [c.pk for c in controls]
    wanted = {a for c in controls for a in by_control.get(c.pk, ())}
    per_assertion = _assertion_days(wanted, start, end, now)
    soa = _soa_days(ids, start, end)
    uploads, required = _manual(ids)
    today = now.astimezone(UTC).date()
    count = (end - start).days + 1
    result = []
    for control in controls:
        arrays = [per_assertion[a] for a in sorted(by_control.get(control.pk, ()))]
        excluded = soa.get(control.pk)
        own_uploads = uploads.get(control.pk, [])
        required_since = required.get(control.pk)
        days: list[str] = []
        for i in range(count):
            day = start + timedelta(days=i)
            if excluded is not None and excluded[i]:
                days.append(DayStatus.NOT_APPLICABLE)
                continue
            if day > today:
                days.append(DayStatus.NO_EVIDENCE)
                continue
            auto = max((a[i] for a in arrays), key=_AUTO_RANK.__getitem__, default="")
            valid = any(eff <= day <= until for eff, until in own_uploads)
            needs = (required_since is not None and required_since <= day) or any(
                eff <= day for eff, _ in own_uploads
            )
            days.append(_day_status(auto, valid, needs))
        result.append(ControlCoverage(control, start, end, tuple(days)))
    return result


def _day_status(auto: str, manual_valid: bool, manual_needed: bool) -> str:
    if auto == "fail":
        return DayStatus.FAILING
    if auto == "error":
        return DayStatus.ERROR
    if manual_needed and not manual_valid:
        return DayStatus.MANUAL_EXPIRED
    if auto == "stale":
        return DayStatus.STALE
    if auto == "pass":
        return DayStatus.PASSING
    if manual_valid:
        return DayStatus.MANUAL_VALID
    return DayStatus.NO_EVIDENCE


def framework_coverage(
    *, framework: Framework, start: date, end: date, now: datetime | None = None
) -> FrameworkCoverage:
    """Coverage of every assessable control of ``framework`` (eight queries)."""
    controls = list(
        Control.objects.filter(framework=framework, assessable=True)
        .exclude(kind=Control.Kind.GROUP)
        .select_related("framework")
        .order_by("sort_order")
    )
    mappings = effective_mappings(framework=framework)
    items = _coverages(controls, mappings, start, end, now or timezone.now())
    return FrameworkCoverage(framework, start, end, tuple(items))


def control_coverage(
    *, control: Control, start: date, end: date, now: datetime | None = None
) -> ControlCoverage:
    """Coverage of one control (same rules as :func:`framework_coverage`)."""
    mappings = effective_mappings(framework=control.framework)
    return _coverages([control], mappings, start, end, now or timezone.now())[0]
