"""Server-side SVG charts of coverage: a calendar heatmap and a controls × days matrix.

Plain SVG strings (no JavaScript, no external fonts), so the same markup renders in the
browser and in weasyprint PDFs. Every piece of text is escaped, so the result is safe to
``mark_safe``. Each status has a colour *and* a letter in the legend with its day count,
so the chart stays readable in greyscale print.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from itertools import groupby

from django.utils.html import escape

from pixaudit.posture.coverage import DayStatus

__all__ = ["STATUS_COLOURS", "heatmap_svg", "matrix_svg"]

#: status -> fill colour (colour-blind-friendly pairs: blue/orange, not red/green only).
STATUS_COLOURS = {
    DayStatus.PASSING: "#1a9850",
    DayStatus.MANUAL_VALID: "#66bd63",
    DayStatus.FAILING: "#d73027",
    DayStatus.ERROR: "#f46d43",
    DayStatus.STALE: "#fdae61",
    DayStatus.MANUAL_EXPIRED: "#fee08b",
    DayStatus.NO_EVIDENCE: "#bdbdbd",
    DayStatus.NOT_APPLICABLE: "#ffffff",
    DayStatus.RISK_ACCEPTED: "#8073ac",
}
_CELL = 11
_GAP = 2
_STEP = _CELL + _GAP
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def _legend(counts: Counter, y: int) -> tuple[list[str], int]:
    """Legend lines (one per status present) starting at ``y``; returns (parts, height)."""
    parts = []
    row = 0
    for status in DayStatus:
        if not counts.get(status.value):
            continue
        yy = y + row * 16
        parts.append(
            f'<rect x="0" y="{yy}" width="{_CELL}" height="{_CELL}" '
            f'fill="{STATUS_COLOURS[status]}" stroke="#666" stroke-width="0.5"/>'
            f'<text x="{_CELL + 6}" y="{yy + 10}" font-size="11" {_FONT}>'
            f"{escape(status.label)}: {counts[status.value]} day"
            f"{'' if counts[status.value] == 1 else 's'}</text>"
        )
        row += 1
    return parts, row * 16


def heatmap_svg(*, days: Sequence[str], start: date, title: str) -> str:
    """A calendar heatmap: one cell per day, weeks as columns (Monday on top), a legend."""
    offset = start.weekday()
    weeks = (offset + len(days) + 6) // 7
    top = 34
    width = max(weeks * _STEP + 30, 320)
    parts = []
    last_month = None
    for i, status in enumerate(days):
        day = start + timedelta(days=i)
        col, row = divmod(offset + i, 7)
        x, y = 30 + col * _STEP, top + row * _STEP
        if day.month != last_month and row <= 3:
            parts.append(
                f'<text x="{x}" y="{top - 4}" font-size="9" {_FONT}>{day:%b %Y}</text>'
                if last_month is None or day.month == 1
                else f'<text x="{x}" y="{top - 4}" font-size="9" {_FONT}>{day:%b}</text>'
            )
            last_month = day.month
        label = DayStatus(status).label
        parts.append(
            f'<rect x="{x}" y="{y}" width="{_CELL}" height="{_CELL}" '
            f'fill="{STATUS_COLOURS[status]}" stroke="#999" stroke-width="0.5" '
            f'data-day="{day.isoformat()}" data-status="{status}">'
            f"<title>{day.isoformat()}: {escape(label)}</title></rect>"
        )
    for row, name in ((0, "Mon"), (2, "Wed"), (4, "Fri")):
        parts.append(f'<text x="0" y="{top + row * _STEP + 9}" font-size="9" {_FONT}>{name}</text>')
    legend, legend_height = _legend(Counter(days), top + 7 * _STEP + 12)
    height = top + 7 * _STEP + 12 + legend_height
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(title)}</title>"
        f'<text x="0" y="14" font-size="12" font-weight="bold" {_FONT}>{escape(title)}</text>'
        + "".join(parts)
        + "".join(legend)
        + "</svg>"
    )


def matrix_svg(*, rows: Sequence[tuple[str, Sequence[str]]], start: date, title: str) -> str:
    """Controls × days: one row per ``(label, days)``; runs of equal days are one rectangle
    (same picture as one cell per day, a fraction of the markup for a year)."""
    label_width = 90
    count = max((len(d) for _, d in rows), default=0)
    cell_w = max(1.0, min(8.0, 900 / max(count, 1)))
    row_h = 12
    top = 30
    parts = []
    totals: Counter = Counter()
    labels = {status.value: escape(status.label) for status in DayStatus}
    iso = [(start + timedelta(days=i)).isoformat() for i in range(count)]
    for r, (label, days) in enumerate(rows):
        y = top + r * row_h
        name = escape(label)
        parts.append(f'<text x="0" y="{y + 9}" font-size="9" {_FONT}>{name}</text>')
        totals.update(days)
        i = 0
        for status, group in groupby(days):
            n = len(list(group))
            parts.append(
                f'<rect x="{label_width + i * cell_w:.1f}" y="{y}" '
                f'width="{n * cell_w:.1f}" height="{row_h - 2}" '
                f'fill="{STATUS_COLOURS[status]}"><title>{name} {iso[i]}'
                f"–{iso[i + n - 1]}: {labels[status]}</title></rect>"
            )
            i += n
    end = start + timedelta(days=max(count - 1, 0))
    parts.append(
        f'<text x="{label_width}" y="{top - 4}" font-size="9" {_FONT}>{start.isoformat()}</text>'
        f'<text x="{label_width + count * cell_w}" y="{top - 4}" font-size="9" '
        f'text-anchor="end" {_FONT}>{end.isoformat()}</text>'
    )
    legend, legend_height = _legend(totals, top + len(rows) * row_h + 10)
    width = int(label_width + count * cell_w + 10)
    width = max(width, 320)
    height = top + len(rows) * row_h + 10 + legend_height
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="coverage-matrix" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(title)}</title>"
        f'<text x="0" y="14" font-size="12" font-weight="bold" {_FONT}>{escape(title)}</text>'
        + "".join(parts)
        + "".join(legend)
        + "</svg>"
    )
