"""Reads of what the organisation writes into its reports: scope statements, control
narratives, manual evidence in a period, and an engagement's samples with their results.

Scope and narratives are append-only versions: "current" is the newest, and with ``as_of``
the newest recorded at or before that instant (what a report rendered then printed, so a
pack or preview rebuilt later prints the same). Every function runs a fixed number of
queries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db.models import QuerySet

from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.models import ManualEvidence, ManualEvidenceControl, ManualRequirement
from pixaudit.evidence.selectors_manual import ManualControlState
from pixaudit.reports.models import ControlNarrative, ScopeStatement
from pixaudit.reports.periods import Period

__all__ = [
    "SampleItemRow",
    "SampleSummary",
    "control_narrative_history",
    "control_narratives",
    "engagement_samples",
    "manual_in_period",
    "manual_states_as_of",
    "scope_statement_current",
    "scope_statement_history",
]


def scope_statement_current(
    *, framework: Framework, as_of: datetime | None = None
) -> ScopeStatement | None:
    qs = ScopeStatement.objects.filter(framework=framework).select_related("author")
    if as_of is not None:
        qs = qs.filter(created_at__lte=as_of)
    return qs.order_by("-created_at", "-id").first()


def scope_statement_history(*, framework: Framework) -> QuerySet[ScopeStatement]:
    return (
        ScopeStatement.objects.filter(framework=framework)
        .select_related("author")
        .order_by("-created_at", "-id")
    )


def control_narratives(
    *, controls: list[Control], as_of: datetime | None = None
) -> dict[int, ControlNarrative]:
    """control id -> its narrative (newest version, or newest at ``as_of``); one query."""
    qs = ControlNarrative.objects.filter(control_id__in=[c.pk for c in controls])
    if as_of is not None:
        qs = qs.filter(created_at__lte=as_of)
    out: dict[int, ControlNarrative] = {}
    for row in qs.select_related("author").order_by("created_at", "id"):
        out[row.control_id] = row
    return out


def control_narrative_history(*, control: Control) -> QuerySet[ControlNarrative]:
    return (
        ControlNarrative.objects.filter(control=control)
        .select_related("author")
        .order_by("-created_at", "-id")
    )


def manual_in_period(
    *, controls: list[Control], period: Period, up_to_seq: int | None = None
) -> dict[int, list[ManualEvidence]]:
    """control id -> manual uploads chained in the period (their evidence item was collected
    in it, so it is in the report's appendix), oldest first (one query)."""
    links = ManualEvidenceControl.objects.filter(
        control_id__in=[c.pk for c in controls],
        manual__evidence__collected_at__gte=period.since,
        manual__evidence__collected_at__lt=period.until,
    )
    if up_to_seq is not None:
        links = links.filter(manual__evidence__seq__lte=up_to_seq)
    out: dict[int, list[ManualEvidence]] = defaultdict(list)
    rows = links.select_related("manual", "manual__evidence").order_by(
        "manual__evidence__seq", "id"
    )
    for link in rows:
        out[link.control_id].append(link.manual)
    return out


def manual_states_as_of(
    *, controls: list[Control], as_of: datetime
) -> dict[int, ManualControlState]:
    """control id -> manual evidence state from the uploads made up to ``as_of`` (two
    queries): the same state the dashboard derives, as it stood then."""
    best: dict[int, tuple[Any, int]] = {}
    links = (
        ManualEvidenceControl.objects.filter(
            control_id__in=[c.pk for c in controls], manual__uploaded_at__lte=as_of
        )
        .order_by("manual__valid_until", "manual__uploaded_at", "manual_id")
        .values_list("control_id", "manual__valid_until", "manual_id")
    )
    for control_id, until, manual_id in links:
        best[control_id] = (until, manual_id)
    required = set(
        ManualRequirement.objects.filter(control_id__in=[c.pk for c in controls]).values_list(
            "control_id", flat=True
        )
    )
    out = {}
    for control in controls:
        if control.pk in best or control.pk in required:
            until, manual_id = best.get(control.pk, (None, None))
            out[control.pk] = ManualControlState(
                control.address, control.pk in required, until, manual_id
            )
    return out


@dataclass
class SampleItemRow:
    """One drawn item with its latest result (if any)."""

    position: int
    label: str
    values: dict[str, Any]
    result: Any = None  # SampleResult | None


@dataclass
class SampleSummary:
    sample: Any  # audits.Sample
    population: str
    items: list[SampleItemRow] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for i in self.items if i.result and i.result.outcome == "passed")

    @property
    def exceptions(self) -> int:
        return sum(1 for i in self.items if i.result and i.result.outcome == "exception")

    @property
    def untested(self) -> int:
        return sum(1 for i in self.items if i.result is None)


def sample_item_label(item: dict[str, Any]) -> str:
    """How a drawn item is named: the day, or the account's display name / e-mail / id."""
    if "day" in item:
        return str(item["day"])
    for key in ("display_name", "email", "account_id"):
        if item.get(key):
            return str(item[key])
    return f"item {item.get('index', '?')}"


def engagement_samples(
    *, engagement_id: int, as_of: datetime | None = None, control: Control | None = None
) -> list[SampleSummary]:
    """The engagement's samples (oldest first) with each item's newest result (at
    ``as_of``); two queries. Empty when the audits app is not installed."""
    if not apps.is_installed("pixaudit.audits"):
        return []
    from collectors import registry

    sample_model = apps.get_model("audits", "Sample")
    result_model = apps.get_model("audits", "SampleResult")
    samples = sample_model.objects.filter(engagement_id=engagement_id)
    if as_of is not None:
        samples = samples.filter(created_at__lte=as_of)
    if control is not None:
        samples = samples.filter(control=control)
    samples = list(
        samples.select_related("control", "control__framework", "created_by").order_by(
            "created_at", "id"
        )
    )
    results = result_model.objects.filter(sample_id__in=[s.pk for s in samples])
    if as_of is not None:
        results = results.filter(recorded_at__lte=as_of)
    latest: dict[tuple[int, int], Any] = {}
    for row in results.select_related("recorded_by").order_by("recorded_at", "id"):
        latest[(row.sample_id, row.position)] = row
    registry.discover()
    out = []
    for sample in samples:
        if sample.collector_key:
            try:
                population = registry.get(sample.collector_key).title
            except KeyError:
                population = sample.collector_key
        else:
            population = "Days of the window"
        summary = SampleSummary(sample, population)
        for position, item in enumerate(sample.items, 1):
            values = {k: v for k, v in item.items() if k != "index"}
            summary.items.append(
                SampleItemRow(
                    position, sample_item_label(item), values, latest.get((sample.pk, position))
                )  # fmt: skip
            )
        out.append(summary)
    return out
