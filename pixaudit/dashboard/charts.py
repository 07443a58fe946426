"""Server-side SVG charts (the same markup goes into the PDF reports).

Charts use presentation attributes (``fill``, ``stroke``), never ``style`` attributes, so they
render under the strict Content-Security-Policy and in weasyprint without a stylesheet. Each
chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that states the data in
words, so it is accessible without seeing the colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from html import escape
from itertools import count

from django.utils.safestring import SafeString, mark_safe

from pixaudit.lib.display import format_day

#: Status colours (WCAG AA on white), matching pixaudit.css.
STATUS_COLOURS = {
    "passing": "#137a3a",
    "failing": "#b3261e",
    "error": "#6d3bb3",
    "warning": "#8a5a00",
    "stale": "#5a6675",
    "manual_pending": "#b7791f",
    "no_evidence": "#aab4c0",
    "not_applicable": "#dde3ea",
    "risk_accepted": "#8073ac",
}
_BRAND = "#2d4bd8"
_GRID = "#dde3ea"
_TEXT = "#5a6675"
_ids = count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def trend_svg(
    points: Sequence[tuple[date, float]],
    *,
    days: int = 90,
    end: date,
    title: str = "Readiness trend",
    width: int = 900,
    height: int = 220,
) -> SafeString:
    """A line chart of readiness (0–100 %) per day over the ``days`` days ending at ``end``."""
    chart_id = _id("trend")
    left, right, top, bottom = 40, 10, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    start = end - timedelta(days=days - 1)

    def x(day: date) -> float:
        return left + plot_w * ((day - start).days / max(days - 1, 1))

    def y(value: float) -> float:
        return top + plot_h * (1 - max(0.0, min(100.0, value)) / 100)

    visible = [(d, v) for d, v in points if start <= d <= end]
    if visible:
        first, last = visible[0], visible[-1]
        low = min(v for _, v in visible)
        high = max(v for _, v in visible)
        desc = (
            f"{len(visible)} daily readings from {first[0]:%Y-%m-%d} to {last[0]:%Y-%m-%d}: "
            f"{_num(first[1])}% at the start, {_num(last[1])}% at the end, "
            f"lowest {_num(low)}%, highest {_num(high)}%."
        )
    else:
        desc = "No readiness snapshots in this period yet."
    parts = [
        f'<svg class="chart chart-trend" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet" font-family="system-ui, sans-serif">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]
    for pct in (0, 25, 50, 75, 100):
        gy = y(pct)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(gy)}" y2="{_num(gy)}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{_num(gy + 4)}" text-anchor="end" font-size="11" '
            f'fill="{_TEXT}">{pct}%</text>'
        )
    for offset in (0, days // 3, 2 * days // 3, days - 1):
        day = start + timedelta(days=offset)
        anchor = "start" if offset == 0 else "end" if offset == days - 1 else "middle"
        parts.append(
            f'<text x="{_num(x(day))}" y="{height - 8}" text-anchor="{anchor}" font-size="11" '
            f'fill="{_TEXT}">{format_day(day)}</text>'
        )
    if visible:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{_num(x(d))},{_num(y(v))}" for i, (d, v) in enumerate(visible)
        )
        base = _num(y(0))
        area = f"{path} L{_num(x(visible[-1][0]))},{base} L{_num(x(visible[0][0]))},{base} Z"
        parts.append(f'<path d="{area}" fill="{_BRAND}" fill-opacity="0.08" stroke="none"/>')
        parts.append(
            f'<path d="{path}" fill="none" stroke="{_BRAND}" stroke-width="2" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
        lx, ly = x(visible[-1][0]), y(visible[-1][1])
        parts.append(f'<circle cx="{_num(lx)}" cy="{_num(ly)}" r="3.5" fill="{_BRAND}"/>')
    else:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            f'font-size="13" fill="{_TEXT}">No snapshots yet</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def status_bar_svg(
    rows: Sequence[tuple[str, str, int]],
    *,
    title: str = "Controls by status",
    width: int = 640,
    height: int = 22,
) -> SafeString:
    """A stacked horizontal bar of control counts per status (``(status, label, n)`` rows)."""
    chart_id = _id("status")
    total = sum(n for _, _, n in rows)
    desc = ", ".join(f"{label}: {n}" for _, label, n in rows if n) or "No controls."
    parts = [
        f'<svg class="chart chart-bar" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="none">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}.</desc>',
    ]
    if total:
        offset = 0.0
        for status, label, n in rows:
            if not n:
                continue
            w = width * n / total
            parts.append(
                f'<rect x="{_num(offset)}" y="0" width="{_num(w)}" height="{height}" '
                f'fill="{STATUS_COLOURS.get(status, _GRID)}"><title>{escape(label)}: {n}</title>'
                "</rect>"
            )
            offset += w
    else:
        parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="{_GRID}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def status_strip_svg(
    entries: Sequence[tuple[str, str, str]],
    *,
    title: str = "Status history",
    cell: int = 14,
    gap: int = 3,
) -> SafeString:
    """One square per collection, oldest first: ``(status, label, when)`` entries."""
    chart_id = _id("strip")
    width = max(len(entries) * (cell + gap), cell)
    counts: dict[str, int] = {}
    for _, label, _ in entries:
        counts[label] = counts.get(label, 0) + 1
    desc = (
        f"{len(entries)} collections, oldest first: "
        + ", ".join(f"{label} {n}" for label, n in counts.items())
        if entries
        else "No collections in this period."
    )
    parts = [
        f'<svg class="chart chart-strip" viewBox="0 0 {width} {cell}" width="{width}" '
        f'height="{cell}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}.</desc>',
    ]
    for i, (status, label, when) in enumerate(entries):
        parts.append(
            f'<rect x="{i * (cell + gap)}" y="0" width="{cell}" height="{cell}" rx="3" '
            f'fill="{STATUS_COLOURS.get(status, _GRID)}"><title>{escape(when)}: '
            f"{escape(label)}</title></rect>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped
