"""The top-level audit workbook of a report (``audit-workbook.xlsx`` in its evidence pack):
control matrix, coverage, exceptions, evidence index and, for engagement reports, the
samples with their results.

Built from the same ``ReportData`` as the PDF (so, in a pack, from the report's evidence
pin), through ``pixaudit.lib.workbook`` (frozen headers, autofilters, column widths).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pixaudit.controls.models import Control
from pixaudit.evidence.selectors import collector_title
from pixaudit.lib.workbook import Sheet, workbook_bytes
from pixaudit.reports.selectors import ReportData
from pixaudit.reports.selectors_scope import SampleSummary

__all__ = [
    "NOT_TESTED",
    "RESULT_HEADERS",
    "WORKBOOK_PATH",
    "audit_workbook_bytes",
    "audit_workbook_sheets",
    "sample_result_rows",
]

WORKBOOK_PATH = "audit-workbook.xlsx"
NOT_TESTED = "Not tested: no evidence in the period"
MATRIX_HEADERS = ["Control", "Title", "Category", "Status at period end", "Tested", "Pass",
                  "Fail", "Warn", "Error", "Collections", "Manual uploads",
                  "Last collected (UTC)", "Evidence items (seq)", "Narrative"]  # fmt: skip
EVIDENCE_HEADERS = ["Seq", "Source", "Connection", "Collected (UTC)", "Effective (UTC)",
                    "Expires (UTC)", "Rows", "Findings", "Controls", "SHA-256",
                    "Pack paths"]  # fmt: skip
COVERAGE_HEADERS = ["Control", "Title", "Coverage", "Passing days", "Failing days",
                    "Error days", "Days without evidence", "Not applicable days",
                    "Risk accepted days", "In-scope days",
                    "Days without evidence (dates)"]  # fmt: skip
EXCEPTION_HEADERS = ["Controls", "Check", "Resource", "Connection", "Severity",
                     "Opened (UTC)", "Closed (UTC)", "Days", "Deadline", "Owner",
                     "First evidence (seq)", "Last evidence (seq)", "Status"]  # fmt: skip
RESULT_HEADERS = ["Sample", "Population", "Control", "Position", "Item", "Drawn index",
                  "Result", "Note", "Attachment", "Attachment SHA-256", "Recorded by",
                  "Recorded at (UTC)"]  # fmt: skip


def _category(control: Control) -> str:
    return Control.Category(control.category).label if control.category else ""


def _matrix_rows(data: ReportData) -> Iterable[list[Any]]:
    for s in data.sections:
        totals = s.totals
        tested = "Not applicable" if s.status == "not_applicable" else (
            "Yes" if s.tested else NOT_TESTED
        )  # fmt: skip
        last = s.evidence[-1].collected_at if s.evidence else None
        seqs = [e.seq for e in s.evidence] + [m.evidence.seq for m in s.manual]
        yield [
            s.control.ref, s.control.title, _category(s.control), s.status_label, tested,
            totals["pass"], totals["fail"], totals["warn"], totals["error"], s.collections,
            len(s.manual), last, ", ".join(str(n) for n in sorted(seqs)),
            s.narrative.text if s.narrative else "",
        ]  # fmt: skip


def _evidence_rows(data: ReportData, paths: dict[int, list[str]]) -> Iterable[list[Any]]:
    for e in data.evidence:
        yield [
            e.seq, collector_title(e.collector_key), e.connection_name, e.collected_at,
            e.effective_at, e.expires_at, e.row_count, e.findings_count, e.controls, e.sha256,
            paths.get(e.id, []),
        ]  # fmt: skip


def _coverage_rows(data: ReportData) -> Iterable[list[Any]]:
    if data.coverage is None:
        return
    for c in data.coverage.controls:
        yield [
            c.control.ref, c.control.title, c.coverage_display if c.tested else NOT_TESTED,
            c.days_passing, c.days_failing, c.days_error, c.days_without_evidence,
            c.days_not_applicable, c.days_risk_accepted, c.days_in_scope,
            c.without_evidence_text,
        ]  # fmt: skip


def _exception_rows(data: ReportData) -> Iterable[list[Any]]:
    from pixaudit.exceptions.selectors import exceptions_for_period

    rows = exceptions_for_period(
        framework=data.framework, since=data.period.since, until=data.period.until,
        up_to_seq=data.chain_head_seq, now=data.generated_at,
    )  # fmt: skip
    for r in rows:
        record = r.record
        yield [
            [c.ref for c in r.controls if c.framework_id == data.framework.pk],
            r.assertion_title or record.assertion_id, record.resource,
            record.connection.name if record.connection else "", record.severity,
            record.opened_at, record.closed_at, r.duration_days, r.deadline_label,
            r.owner.get_username() if r.owner else "", record.start_seq, record.end_seq,
            r.status,
        ]  # fmt: skip


def _control_label(summary: SampleSummary) -> str:
    control = summary.sample.control
    return f"{control.framework.name}: {control.ref} {control.title}" if control else ""


def sample_result_rows(summaries: Iterable[SampleSummary]) -> Iterable[list[Any]]:
    """One row per drawn item of each sample with its latest result (``RESULT_HEADERS``)."""
    for summary in summaries:
        sample = summary.sample
        for item, row in zip(sample.items, summary.items, strict=True):
            result = row.result
            yield [
                sample.pk, summary.population, _control_label(summary), row.position, row.label,
                item.get("index"), result.get_outcome_display() if result else "Not tested",
                result.note if result else "", result.file_name if result else "",
                result.file_sha256 if result else "",
                result.recorded_by.get_username() if result and result.recorded_by else "",
                result.recorded_at if result else None,
            ]  # fmt: skip


def audit_workbook_sheets(data: ReportData, paths: dict[int, list[str]]) -> list[Sheet]:
    sheets = [
        Sheet("Control matrix", MATRIX_HEADERS, _matrix_rows(data)),
        Sheet("Coverage", COVERAGE_HEADERS, _coverage_rows(data)),
        Sheet("Exceptions", EXCEPTION_HEADERS, _exception_rows(data)),
        Sheet("Evidence index", EVIDENCE_HEADERS, _evidence_rows(data, paths)),
    ]
    if data.engagement_id is not None:
        sheets.append(Sheet("Samples", RESULT_HEADERS, sample_result_rows(data.samples)))
    return sheets


def audit_workbook_bytes(data: ReportData, paths: dict[int, list[str]] | None = None) -> bytes:
    return workbook_bytes(audit_workbook_sheets(data, paths or {}))
