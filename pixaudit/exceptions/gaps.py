"""Exceptions of the second kind: stretches during which a control had no valid evidence.

Derived when read from the day-by-day coverage (``pixaudit.posture.coverage``, the one
definition of a control's status on a day): every maximal run of days on which a control's
status is ``no_evidence``, ``stale`` or ``manual_expired``. Days after today are not judged
(coverage calls them "no evidence"; the future is not a gap). A gap reaching the last day
judged is open. These are not stored: the daily rollup behind coverage is what is
maintained at ingest, and a gap cannot be accepted or assigned (its owner is the control's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from pixaudit.controls.models import Control, Framework
from pixaudit.posture.coverage import DayStatus, FrameworkCoverage, framework_coverage
from pixaudit.posture.ownership import control_owners

__all__ = ["ControlGap", "control_gaps", "gaps_from_coverage"]

GAP_STATUSES = (DayStatus.NO_EVIDENCE, DayStatus.STALE, DayStatus.MANUAL_EXPIRED)


@dataclass(frozen=True)
class ControlGap:
    """``first``..``last`` (inclusive UTC days): the control had no valid evidence."""

    control: Control
    first: date
    last: date
    #: Which kinds of days the stretch holds (no evidence, stale, manual expired), in order.
    kinds: tuple[str, ...]
    open: bool
    owner: object | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def kinds_label(self) -> str:
        labels = dict(DayStatus.choices)
        return ", ".join(labels[k].lower() for k in self.kinds)


def gaps_from_coverage(
    coverage: FrameworkCoverage, *, today: date, owners: dict | None = None
) -> list[ControlGap]:
    """The gaps of every control of ``coverage`` (catalogue order, then by first day)."""
    last_judged = min(coverage.end, today)
    gaps = []
    for item in coverage.controls:
        for first, last in item.ranges(*GAP_STATUSES):
            if first > last_judged:
                continue
            last = min(last, last_judged)
            start = (first - item.start).days
            stop = (last - item.start).days
            kinds = tuple(k for k in GAP_STATUSES if k in item.days[start : stop + 1])
            gaps.append(ControlGap(item.control, first, last, kinds, last == last_judged,
                                   (owners or {}).get(item.control.pk)))  # fmt: skip
    return gaps


def control_gaps(
    *, framework: Framework, start: date, end: date, now: datetime | None = None
) -> list[ControlGap]:
    """Gaps of ``framework``'s controls over ``start``..``end`` (coverage's queries + one)."""
    now = now or timezone.now()
    coverage = framework_coverage(framework=framework, start=start, end=end, now=now)
    return gaps_from_coverage(
        coverage, today=now.date(), owners=control_owners(framework=framework)
    )
