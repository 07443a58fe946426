"""The engagement organised by control: what an auditor tests, control by control.

For each in-scope control of an engagement's framework: its status at the end of the
window, its coverage day by day (``posture.coverage``, the report's own figures), the
exceptions overlapping the window (``exceptions.selectors``), the evidence inside the
window (automated collections and manual uploads, from the same period selector the
engagement report uses, ``reports.selectors.report_data``), the organisation's narrative,
the auditors' requests and the samples drawn for it with their results. Scoped like every
auditor read: only evidence collected inside the window. A constant number of queries per
framework, whatever the volume of evidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import mark_safe

from pixaudit.audits.models import Engagement, EvidenceRequest, Sample
from pixaudit.audits.selectors import evidence_request_list, sample_list
from pixaudit.controls.models import Control, Framework
from pixaudit.exceptions.selectors import ExceptionRow, exceptions_for_period
from pixaudit.posture.coverage import ControlCoverage
from pixaudit.posture.heatmap import heatmap_svg
from pixaudit.posture.selectors import ControlStatus
from pixaudit.reports.periods import Period
from pixaudit.reports.selectors import ControlSection, report_data
from pixaudit.reports.selectors_scope import SampleSummary, engagement_samples

__all__ = [
    "EngagementControl",
    "FrameworkControls",
    "engagement_control_get",
    "engagement_controls",
    "engagement_period",
]


def engagement_period(*, engagement: Engagement) -> Period:
    return Period(engagement.window_start, engagement.window_end)


@dataclass
class EngagementControl:
    section: ControlSection
    requests: list[EvidenceRequest] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    coverage: ControlCoverage | None = None  # day by day over the window
    exceptions: list[ExceptionRow] = field(default_factory=list)  # overlapping the window

    @property
    def heatmap(self) -> str:
        """The window's calendar heatmap (inline SVG, every text escaped)."""
        if self.coverage is None:
            return ""
        return mark_safe(
            heatmap_svg(
                days=self.coverage.days, start=self.coverage.start,
                title=f"{self.control.ref} coverage, {self.coverage.start} to "
                f"{self.coverage.end}",
            )
        )  # fmt: skip

    @property
    def control(self) -> Control:
        return self.section.control

    @property
    def tested(self) -> bool:
        return self.section.tested

    @property
    def not_applicable(self) -> bool:
        return self.section.status == ControlStatus.NOT_APPLICABLE

    @property
    def open_requests(self) -> int:
        return sum(1 for r in self.requests if r.status in ("open", "needs_more"))


@dataclass
class FrameworkControls:
    framework: Framework
    controls: list[EngagementControl]
    data: Any  # ReportData of the window

    @property
    def not_tested(self) -> int:
        return sum(1 for c in self.controls if not c.tested and not c.not_applicable)


def _framework_controls(
    engagement: Engagement, framework: Framework, requests, samples
) -> FrameworkControls:
    period = engagement_period(engagement=engagement)
    data = report_data(
        framework=framework,
        period=period,
        include_privacy_register=engagement.include_privacy_register,
    )
    coverage = {c.control.pk: c for c in data.coverage.controls} if data.coverage else {}
    by_control_exceptions: dict[int, list[ExceptionRow]] = defaultdict(list)
    for row in exceptions_for_period(
        framework=framework, since=period.since, until=period.until, now=data.generated_at
    ):
        for control in row.controls:
            by_control_exceptions[control.pk].append(row)
    by_control_requests: dict[int, list[EvidenceRequest]] = defaultdict(list)
    for item in requests:
        by_control_requests[item.control_id].append(item)
    by_control_samples: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.control_id is not None:
            by_control_samples[sample.control_id].append(sample)
    controls = [
        EngagementControl(
            section,
            by_control_requests.get(section.control.pk, []),
            by_control_samples.get(section.control.pk, []),
            coverage.get(section.control.pk),
            by_control_exceptions.get(section.control.pk, []),
        )
        for section in data.sections
    ]
    return FrameworkControls(framework, controls, data)


def engagement_controls(*, engagement: Engagement) -> list[FrameworkControls]:
    """Per framework of the engagement (by key), every in-scope control in catalogue order."""
    requests = list(evidence_request_list(engagement=engagement))
    samples = list(sample_list(engagement=engagement))
    return [
        _framework_controls(engagement, framework, requests, samples)
        for framework in engagement.frameworks.order_by("key")
    ]


@dataclass
class ControlWorkspace:
    engagement_control: EngagementControl
    framework: Framework
    data: Any  # ReportData
    samples: list[SampleSummary]

    @property
    def section(self) -> ControlSection:
        return self.engagement_control.section


def engagement_control_get(
    *, engagement: Engagement, framework_key: str, ref: str
) -> ControlWorkspace:
    """One control of the engagement; ``Control.DoesNotExist`` when the framework is not the
    engagement's or the control is not in scope (views answer 404 either way)."""
    framework = engagement.frameworks.filter(key=framework_key).first()
    if framework is None:
        raise Control.DoesNotExist("not a framework of this engagement")
    requests = evidence_request_list(engagement=engagement).filter(
        control__framework=framework, control__ref=ref
    )
    samples = sample_list(engagement=engagement).filter(
        control__framework=framework, control__ref=ref
    )
    controls = _framework_controls(engagement, framework, list(requests), list(samples))
    for item in controls.controls:
        if item.control.ref == ref:
            summaries = engagement_samples(engagement_id=engagement.pk, control=item.control)
            return ControlWorkspace(item, framework, controls.data, summaries)
    raise Control.DoesNotExist("no such control in scope")
