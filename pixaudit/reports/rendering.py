"""Turning report data into HTML, PDF, and watermarked PDF bytes.

One template (``reports/report.html``) and one stylesheet (``reports/report.css``) serve the
browser preview and the PDF: the preview links the stylesheet (the strict CSP allows no
inline style), weasyprint is handed the same file. Print features (running headers, page
numbers, table-of-contents page numbers through ``target-counter``, PDF bookmarks from
``h1``–``h3``) live in that stylesheet's ``@page`` and ``bookmark-level`` rules.

Watermarks are stamped onto the *stored* PDF (pypdf overlays a one-page stamp on every
page) instead of re-rendering: the auditor gets exactly the content whose SHA-256 was
recorded, plus the stamp, in a fraction of the time a render takes.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from pixaudit.dashboard import charts
from pixaudit.exceptions.gaps import gaps_from_coverage
from pixaudit.exceptions.selectors import exceptions_for_period
from pixaudit.posture.heatmap import matrix_svg
from pixaudit.reports.selectors import ReportData

STYLESHEET = "reports/report.css"
WATERMARK_STYLESHEET = "reports/watermark.css"

ProgressFn = Callable[[int, str], None]
#: At most this many exceptions are listed in a report (the register exports them all).
EXCEPTIONS_SHOWN = 500

# weasyprint logs every layout step at INFO; a report of 100 pages would flood worker logs.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    pages: int


def _static_path(name: str) -> Path:
    found = finders.find(name)
    if not found:
        raise FileNotFoundError(f"static file {name} is missing")
    return Path(found)


def report_context(data: ReportData, *, for_pdf: bool) -> dict:
    """Template context: the data plus its charts and the control sections per group."""
    groups = []
    for parent, items in groupby(data.sections, key=lambda s: s.control.parent):
        groups.append((parent, list(items)))
    failing = [s for s in data.sections if s.status in ("failing", "error")]
    failing.sort(key=lambda s: (-s.totals["fail"] - s.totals["error"], s.control.sort_order))
    # The exceptions register over the period, as of the evidence the report was read from.
    exception_rows = exceptions_for_period(
        framework=data.framework, since=data.period.since, until=data.period.until,
        up_to_seq=data.chain_head_seq, now=data.generated_at,
    )  # fmt: skip
    if data.aws_scope is not None:  # limited to one AWS account or OU: not the others'
        exception_rows = [
            r for r in exception_rows if r.record.connection_id not in data.aws_scope.excluded
        ]
    by_control: dict[int, list] = defaultdict(list)
    for row in exception_rows:
        for control in row.controls:
            if control.framework_id == data.framework.pk:
                by_control[control.pk].append(row)
    for section in data.sections:  # each control's details cite its exceptions
        section.exceptions = by_control.get(section.control.pk, [])
    return {
        "data": data,
        "framework": data.framework,
        "groups": groups,
        "top_failing": failing[:10],
        "exception_rows": exception_rows[:EXCEPTIONS_SHOWN],
        "exceptions_total": len(exception_rows),
        "exceptions_shown": EXCEPTIONS_SHOWN,
        # Stretches without valid evidence, from the coverage the report already holds.
        "control_gaps": (
            gaps_from_coverage(data.coverage, today=data.generated_at.date())
            if data.coverage is not None
            else None
        ),
        "for_pdf": for_pdf,
        "status_svg": charts.status_bar_svg(data.status_rows, title="Controls by status"),
        "coverage_svg": _coverage_svg(data),
        "pass_rate_svg": charts.trend_svg(
            data.daily_pass_rate,
            days=max(data.period.days, 2),
            end=data.period.end,
            title="Automated test pass rate per collection day",
        ),
    }


def _coverage_svg(data: ReportData) -> str:
    """The controls × days heatmap of the coverage section (text escaped: safe markup)."""
    if data.coverage is None:
        return ""
    return mark_safe(
        matrix_svg(
            rows=[(c.control.ref, c.days) for c in data.coverage.controls],
            start=data.coverage.start,
            title=f"Coverage by day, {data.coverage.start} to {data.coverage.end}",
        )
    )


def report_html(data: ReportData, *, for_pdf: bool = False) -> str:
    return render_to_string("reports/report.html", report_context(data, for_pdf=for_pdf))


def html_to_pdf(html: str, *, progress: ProgressFn | None = None) -> RenderedPdf:
    """Lay out and write the PDF (weasyprint); reports progress between the two steps."""
    from weasyprint import CSS, HTML

    css = CSS(filename=str(_static_path(STYLESHEET)))
    document = HTML(string=html, base_url=str(_static_path(STYLESHEET).parent)).render(
        stylesheets=[css]
    )
    if progress:
        progress(80, f"Laid out {len(document.pages)} pages; writing the PDF")
    return RenderedPdf(document.write_pdf(), len(document.pages))


def report_pdf(data: ReportData, *, progress: ProgressFn | None = None) -> RenderedPdf:
    html = report_html(data, for_pdf=True)
    if progress:
        progress(40, "Laying out pages")
    return html_to_pdf(html, progress=progress)


def _stamp_pdf(lines: list[str]) -> bytes:
    from weasyprint import CSS, HTML

    html = render_to_string("reports/watermark.html", {"lines": lines})
    css = CSS(filename=str(_static_path(WATERMARK_STYLESHEET)))
    return HTML(string=html).write_pdf(stylesheets=[css])


def pdf_watermark(pdf: bytes, *, lines: list[str]) -> bytes:
    """``pdf`` with ``lines`` stamped on every page (diagonal, faint, plus a footer line).

    Bookmarks, links and metadata of the original are kept (the writer clones it).
    """
    from pypdf import PdfReader, PdfWriter

    stamp = PdfReader(io.BytesIO(_stamp_pdf(lines))).pages[0]
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        page.merge_page(stamp, over=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
