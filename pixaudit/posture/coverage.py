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

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from django.db import models
from django.db.models import Max
from django.utils import timezone

from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import effective_mappings
from pixaudit.evidence.models import ManualEvidenceControl, ManualRequirement
from pixaudit.posture.models import ApplicabilityDecision, CoverageDay

__all__ = [
    "ControlCoverage",
    "CoverageWithout",
    "DayStatus",
    "FrameworkCoverage",
    "control_coverage",
    "framework_coverage",
    "tested_in_window",
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
    RISK_ACCEPTED = "risk_accepted", "Excluded from monitoring (risk accepted)"


_PASSING = frozenset({DayStatus.PASSING, DayStatus.MANUAL_VALID})
_WITHOUT = frozenset({DayStatus.NO_EVIDENCE, DayStatus.STALE, DayStatus.MANUAL_EXPIRED})
_TESTED = frozenset(
    {
        DayStatus.PASSING,
        DayStatus.FAILING,
        DayStatus.ERROR,
        DayStatus.MANUAL_VALID,
        DayStatus.RISK_ACCEPTED,
    }
)
#: Days outside the coverage figure's denominator: not applicable, or risk accepted.
_EXCLUDED = frozenset({DayStatus.NOT_APPLICABLE, DayStatus.RISK_ACCEPTED})


def tested_in_window(days, *, collected: bool = False) -> bool:
    """The one meaning of "tested in the window", shared by the coverage figures and the
    report's per-control details: evidence was collected or uploaded inside the window
    (``collected``, known where the window's evidence is read, as in reports), or some day
    of the window has a result (passing, failing, error, risk accepted) or valid manual
    evidence. So evidence collected before the window start that is still fresh on its
    first days counts ("carried into the window"); evidence that had expired before the
    window, or days after today, do not."""
    return collected or any(status in _TESTED for status in days)


class _Counters:
    """Day counters shared by control and framework coverage (over ``_all_days``)."""

    def _tally(self) -> Counter:  # pragma: no cover - overridden
        raise NotImplementedError

    def _count(self, statuses) -> int:
        tally = self._tally()
        return sum(tally[s] for s in statuses)

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
    def days_risk_accepted(self) -> int:
        """Days excluded from monitoring: a failure whose exceptions all had a risk
        acceptance in force that day (``exceptions.ExceptionAcceptance``)."""
        return self._count({DayStatus.RISK_ACCEPTED})

    @property
    def days_in_scope(self) -> int:
        """Days of the window less the not applicable and the risk-accepted ones."""
        tally = self._tally()
        return sum(tally.values()) - sum(tally[s] for s in _EXCLUDED)

    @property
    def coverage_pct(self) -> float | None:
        """Passing days / in-scope days × 100 (not applicable and risk-accepted days are
        in neither); None when no day is in scope."""
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
    #: Evidence of the control was collected or uploaded inside the window (set by reports,
    #: which read the window's evidence; see :func:`tested_in_window`).
    collected: bool = False

    @cached_property
    def tally(self) -> Counter:
        """status -> number of days (computed once; the dataclass is frozen)."""
        return Counter(self.days)

    def _tally(self) -> Counter:
        return self.tally

    @property
    def tested(self) -> bool:
        """Any day with a result (passing, failing, error or valid manual evidence):
        :func:`tested_in_window`."""
        return tested_in_window(self.tally, collected=self.collected)

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

    @cached_property
    def tally(self) -> Counter:
        """status -> number of control-days."""
        total: Counter = Counter()
        for item in self.controls:
            total.update(item.tally)
        return total

    def _tally(self) -> Counter:
        return self.tally

    @property
    def controls_not_tested(self) -> int:
        return sum(1 for item in self.controls if not item.tested)

    @property
    def window_days(self) -> int:
        return (self.end - self.start).days + 1


# --- Computation ----------------------------------------------------------------------------


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


# Per-assertion results as ranks, so a control's day is the element-wise max of its
# assertions' arrays (computed in C by ``map(max, ...)``): '' < pass < stale < error < fail.
# A FAIL whose exceptions all have a risk acceptance in force that day is ``_ACCEPTED``: it
# outranks passing but not stale evidence, errors or other failures (an acceptance only
# excludes the failure it accepts).
_NONE, _PASS, _ACCEPTED, _STALE, _ERROR, _FAIL = range(6)
_RANK_OF = {"": _NONE, "pass": _PASS, "stale": _STALE, "error": _ERROR, "fail": _FAIL}


def _assertion_days(
    assertion_ids: set[str],
    start: date,
    end: date,
    now: datetime,
    rollup: dict[str, list[CoverageDay]] | None = None,
) -> dict[str, list[int]]:
    """assertion -> per-day result rank (``_NONE`` .. ``_FAIL``) (three queries).

    Works run by run, not day by day: a rollup run gives its days one result; the days
    between two rows carry the earlier row's end state, fresh until the day its evidence
    expires (``end_stale_on``: a day is judged at its end). Today is judged now: the exact
    expiry of the state that applies today is read for that one day.

    ``rollup``: rows to use instead of the stored ones for the assertions it holds (a
    report limited to one AWS account or OU, ``rollup.coverage_rows_without``).
    """
    if not assertion_ids:
        return {}
    rollup = {a: r for a, r in (rollup or {}).items() if a in assertion_ids}
    ids = sorted(assertion_ids)
    stored = sorted(set(ids) - set(rollup))
    today = now.astimezone(UTC).date()
    fields = (
        "assertion_id", "day", "until", "status", "end_status", "end_stale_on", "end_expires_at",
    )  # fmt: skip
    in_window = CoverageDay.objects.filter(assertion_id__in=stored, day__lte=end, until__gte=start)
    count = (end - start).days + 1
    known = max(0, min(count, (today - start).days + 1))  # later days stay _NONE
    today_index = (today - start).days

    def stale_index(stale_on: date | None) -> int | None:
        return None if stale_on is None else (stale_on - start).days

    # Each assertion's last row before the window: its end state carries into the window.
    before = start - timedelta(days=1)
    last_day = dict(
        CoverageDay.objects.filter(assertion_id__in=stored, day__lte=before)
        .values("assertion_id")
        .annotate(last=Max("day"))
        .values_list("assertion_id", "last")
    )
    carry: dict[str, tuple[int, int | None, datetime | None]] = {}
    for assertion_id, own_rows in rollup.items():  # the same reads, from the given rows
        earlier = [r for r in own_rows if r.day <= before]
        if earlier:
            last = max(earlier, key=lambda r: r.day)
            carry[assertion_id] = (
                _RANK_OF[last.end_status],
                stale_index(last.end_stale_on),
                last.end_expires_at,
            )
    if last_day:
        prior = CoverageDay.objects.filter(
            assertion_id__in=sorted(last_day), day__in=sorted(set(last_day.values()))
        ).values_list(*fields)
        for assertion_id, day, _, _, end_status, stale_on, expires in prior:
            if last_day.get(assertion_id) == day:
                carry[assertion_id] = (_RANK_OF[end_status], stale_index(stale_on), expires)
    rows: dict[str, list[tuple]] = defaultdict(list)
    given = sorted(
        (
            (r.assertion_id, r.day, r.until, r.status, r.end_status, r.end_stale_on,
             r.end_expires_at)
            for own_rows in rollup.values()
            for r in own_rows
            if r.day <= end and r.until >= start
        ),
        key=lambda t: (t[0], t[1]),
    )  # fmt: skip
    stored_rows = in_window.values_list(*fields).order_by("assertion_id", "day") if stored else []
    for assertion_id, day, until, status, end_status, stale_on, expires in [
        *given,
        *stored_rows,
    ]:
        if day <= today:
            rows[assertion_id].append(
                (
                    (day - start).days, (until - start).days, _RANK_OF[status],
                    _RANK_OF[end_status], stale_index(stale_on), expires,
                )
            )  # fmt: skip

    def fill(days: list[int], first: int, stop: int, rank: int, stale: int | None) -> None:
        first, stop = max(first, 0), min(stop, known)
        if first >= stop:
            return
        if rank == _PASS and stale is not None:
            stale = max(first, min(stop, stale))
            days[first:stale] = [_PASS] * (stale - first)
            days[stale:stop] = [_STALE] * (stop - stale)
        else:
            days[first:stop] = [rank] * (stop - first)

    result: dict[str, list[int]] = {}
    for assertion_id in ids:
        days = [_NONE] * count
        rank, stale, expires = carry.get(assertion_id, (_NONE, None, None))
        own = rows.get(assertion_id, [])
        # Today is judged now: the state that applies today (the newest row up to today)
        # is not stale yet if its evidence expires later today.
        newest = own[-1][5] if own else expires
        fresh = 0 <= today_index < count and newest is not None and newest >= now
        pos = 0
        for n, (i, last, status, end_status, row_stale, _) in enumerate(own):
            fill(days, pos, i, rank, stale)
            if fresh and n == len(own) - 1 and row_stale == today_index:
                row_stale = today_index + 1  # expires later today: not stale yet
            if last > i:  # a run: one final result for all its days
                fill(days, i, last + 1, status, None)
            else:
                fill(days, i, i + 1, status, row_stale)
            rank, stale, pos = end_status, row_stale, last + 1
        if fresh and stale == today_index:
            stale = today_index + 1
        fill(days, pos, known, rank, stale)
        result[assertion_id] = days
    return result


def _day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _apply_acceptances(
    per_assertion: dict[str, list[int]],
    start: date,
    end: date,
    without: Collection[int] = (),
) -> None:
    """Turn an assertion's failing days into ``_ACCEPTED`` where every exception of it that
    failed that day had a risk acceptance in force at the end of the day (one query).

    An exception (``exceptions.ExceptionRecord``, one resource of one connection) fails on
    the days from its opening to the day before the collection that closed it (the day a
    fix is recorded is passing), or on its one day when it opened and closed the same day.
    An acceptance is in force on day *d* when it was approved by the end of *d*, *d* is no
    later than its ``expires_on`` and it was not revoked by the end of *d*; the day after
    the expiry the failure counts again. ``without``: connections whose exceptions do not
    count (a report limited to one AWS account or OU leaves the others out).
    """
    from pixaudit.exceptions.models import AcceptanceStatus, ExceptionAcceptance, ExceptionRecord

    if not per_assertion:
        return
    ids = sorted(per_assertion)
    until = _midnight_after(end)
    since = datetime.combine(start, time.min, tzinfo=UTC)
    approved = (AcceptanceStatus.APPROVED, AcceptanceStatus.REVOKED)
    with_acceptance = ExceptionAcceptance.objects.filter(
        exception__assertion_id__in=ids, status__in=approved, decided_at__lt=until,
        expires_on__gte=start,
    ).values("exception__assertion_id")  # fmt: skip
    records = ExceptionRecord.objects.filter(assertion_id__in=with_acceptance, opened_at__lt=until)
    if without:
        records = records.exclude(connection_id__in=sorted(without))
    rows = (
        records.filter(models.Q(closed_at__isnull=True) | models.Q(closed_at__gte=since))
        .values_list(
            "pk", "assertion_id", "opened_at", "closed_at", "acceptances__status",
            "acceptances__decided_at", "acceptances__expires_on", "acceptances__revoked_at",
        )
        .order_by("pk")
    )  # fmt: skip
    count = (end - start).days + 1
    # assertion -> exception -> [failing days as (first, last) indexes, acceptances]
    spans: dict[str, dict[int, list]] = defaultdict(dict)
    for pk, assertion_id, opened, closed, status, decided, expires, revoked in rows:
        entry = spans[assertion_id].get(pk)
        if entry is None:
            first = (_day_of(opened) - start).days
            if closed is None:
                last = count - 1
            elif _day_of(closed) == _day_of(opened):
                last = first
            else:
                last = (_day_of(closed) - start).days - 1
            entry = spans[assertion_id][pk] = [first, last, []]
        if status in approved and decided is not None:
            first_day = (_day_of(decided) - start).days
            # Revoked during day r: not in force at the end of r.
            stop = (expires - start).days
            if revoked is not None:
                stop = min(stop, (_day_of(revoked) - start).days - 1)
            entry[2].append((first_day, stop))
    for assertion_id, exceptions in spans.items():
        days = per_assertion[assertion_id]
        # per day: exceptions failing, and how many of them were accepted
        failing, accepted = [0] * count, [0] * count
        for first, last, acceptances in exceptions.values():
            for i in range(max(first, 0), min(last, count - 1) + 1):
                failing[i] += 1
                if any(a <= i <= b for a, b in acceptances):
                    accepted[i] += 1
        for i, rank in enumerate(days):
            if rank == _FAIL and failing[i] and accepted[i] == failing[i]:
                days[i] = _ACCEPTED


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


#: automated rank -> day status when no manual evidence or SoA decision is involved.
_PLAIN = {
    _NONE: DayStatus.NO_EVIDENCE,
    _PASS: DayStatus.PASSING,
    _STALE: DayStatus.STALE,
    _ERROR: DayStatus.ERROR,
    _FAIL: DayStatus.FAILING,
    _ACCEPTED: DayStatus.RISK_ACCEPTED,
}


def _coverages(
    controls: list[Control],
    mappings: dict[str, set[int]],
    start: date,
    end: date,
    now,
    without: CoverageWithout | None = None,
) -> list[ControlCoverage]:
    if end < start:
        raise ValueError("The window ends before it starts.")
    by_control: dict[int, list[str]] = defaultdict(list)
    for assertion_id, control_ids in mappings.items():
        for control_id in control_ids:
            by_control[control_id].append(assertion_id)
    ids = [c.pk for c in controls]
    wanted = {a for c in controls for a in by_control.get(c.pk, ())}
    rollup = None
    if without is not None and without.connections:
        from pixaudit.posture.rollup import coverage_rows_without

        affected = {a for a in wanted if without.collector_of(a) in without.collector_keys}
        rollup = coverage_rows_without(
            connections=without.connections, assertion_ids=affected,
            collector_keys=without.collector_keys, up_to_seq=without.up_to_seq,
        )  # fmt: skip
    per_assertion = _assertion_days(wanted, start, end, now, rollup)
    _apply_acceptances(per_assertion, start, end, without.connections if without else ())
    soa = _soa_days(ids, start, end)
    uploads, required = _manual(ids)
    today = now.astimezone(UTC).date()
    count = (end - start).days + 1
    no_result = [_NONE] * count
    result = []
    for control in controls:
        arrays = [per_assertion[a] for a in by_control.get(control.pk, ())]
        if len(arrays) > 1:
            auto = list(map(max, *arrays))
        else:
            auto = arrays[0] if arrays else no_result
        excluded = soa.get(control.pk)
        own_uploads = uploads.get(control.pk, [])
        required_since = required.get(control.pk)
        if excluded is None and not own_uploads and required_since is None:
            days = tuple(_PLAIN[rank] for rank in auto)
        else:
            days = tuple(
                _day_status(
                    auto[i], start + timedelta(days=i), today, excluded, own_uploads,
                    required_since, i,
                )
                for i in range(count)
            )  # fmt: skip
        result.append(ControlCoverage(control, start, end, days))
    return result


def _day_status(rank, day, today, excluded, uploads, required_since, i) -> str:
    if excluded is not None and excluded[i]:
        return DayStatus.NOT_APPLICABLE
    if day > today:
        return DayStatus.NO_EVIDENCE
    if rank == _FAIL:
        return DayStatus.FAILING
    if rank == _ERROR:
        return DayStatus.ERROR
    valid = any(eff <= day <= until for eff, until in uploads)
    needed = (required_since is not None and required_since <= day) or any(
        eff <= day for eff, _ in uploads
    )
    if needed and not valid:
        return DayStatus.MANUAL_EXPIRED
    if rank == _STALE:
        return DayStatus.STALE
    if rank == _ACCEPTED:
        return DayStatus.RISK_ACCEPTED
    if rank == _PASS:
        return DayStatus.PASSING
    if valid:
        return DayStatus.MANUAL_VALID
    return DayStatus.NO_EVIDENCE


@dataclass(frozen=True)
class CoverageWithout:
    """Coverage as if some connections had never been collected (a report limited to one
    AWS account or OU leaves the other accounts' connections out).

    The checks of ``collector_keys`` (collectors those connections run) are rolled up
    afresh from the other connections' history up to chain position ``up_to_seq``
    (``rollup.coverage_rows_without``, the rollup's own rules); every other check reads the
    stored rollup; those connections' exceptions do not count."""

    connections: frozenset[int]
    collector_keys: frozenset[str]
    up_to_seq: int | None = None
    #: assertion -> its collector key (``posture.selectors.assertion_catalog``).
    collectors: dict[str, str] | None = None

    def collector_of(self, assertion_id: str) -> str:
        known = (self.collectors or {}).get(assertion_id)
        return known or assertion_id.split(".", 1)[0]


def framework_coverage(
    *,
    framework: Framework,
    start: date,
    end: date,
    now: datetime | None = None,
    without: CoverageWithout | None = None,
) -> FrameworkCoverage:
    """Coverage of every assessable control of ``framework`` (ten queries; with
    ``without``, two more and the history of the affected checks)."""
    from pixaudit.posture.selectors import scope_categories_exclude

    now = now or timezone.now()
    # Trust Services categories the scope statement leaves out are outside coverage too.
    controls = list(
        scope_categories_exclude(
            Control.objects.filter(framework=framework, assessable=True)
            .exclude(kind=Control.Kind.GROUP)
            .select_related("framework")
            .order_by("sort_order"),
            as_of=now,
        )
    )
    mappings = effective_mappings(framework=framework)
    items = _coverages(controls, mappings, start, end, now, without)
    return FrameworkCoverage(framework, start, end, tuple(items))


def control_coverage(
    *, control: Control, start: date, end: date, now: datetime | None = None
) -> ControlCoverage:
    """Coverage of one control (same rules as :func:`framework_coverage`)."""
    mappings = effective_mappings(framework=control.framework)
    return _coverages([control], mappings, start, end, now or timezone.now())[0]
