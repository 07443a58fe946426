"""The sample workbook an auditor exports: the draw's record and every drawn item with
its latest test result (``pixaudit.lib.workbook``: frozen headers, filters, widths)."""

from __future__ import annotations

from pixaudit.audits.models import Engagement, Sample
from pixaudit.lib.workbook import Sheet, workbook_bytes
from pixaudit.reports.selectors_scope import SampleSummary, engagement_samples
from pixaudit.reports.workbook import RESULT_HEADERS, sample_result_rows

__all__ = ["sample_sheets", "sample_workbook_bytes"]


def _control(summary: SampleSummary) -> str:
    control = summary.sample.control
    return f"{control.framework.name}: {control.ref} {control.title}" if control else ""


def sample_sheets(summary: SampleSummary) -> list[Sheet]:
    sample = summary.sample
    record = [
        ("Engagement", sample.engagement.name),
        ("Population", summary.population),
        ("Control tested", _control(summary) or "(not named)"),
        ("Population size", sample.population_size),
        ("Population SHA-256", sample.population_hash),
        ("Drawn", sample.size),
        ("Seed", str(sample.seed)),
        ("Drawn by", sample.created_by.get_username() if sample.created_by else ""),
        ("Drawn at (UTC)", sample.created_at),
        ("Passed", summary.passed),
        ("Exceptions", summary.exceptions),
        ("Not tested yet", summary.untested),
    ]
    columns = sorted({k for item in sample.items for k in item} - {"index"})
    items = [
        [row.position, *[item.get(c) for c in columns]]
        for item, row in zip(sample.items, summary.items, strict=True)
    ]
    return [
        Sheet("Results", RESULT_HEADERS, sample_result_rows([summary])),
        Sheet("Drawn items", ["Position", *columns], items),
        Sheet("Record", ["Field", "Value"], record),
    ]


def sample_workbook_bytes(*, engagement: Engagement, sample: Sample) -> bytes:
    summary = next(
        s for s in engagement_samples(engagement_id=engagement.pk) if s.sample.pk == sample.pk
    )
    return workbook_bytes(sample_sheets(summary))
