"""Small presentation helpers: status badges, dates and times (one format), names, hashes."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from pixaudit.evidence import selectors as evidence_selectors
from pixaudit.lib.display import WHEN_FORMAT, elapsed, format_day, format_when

register = template.Library()


@register.simple_tag
def badge(status: str, label: str = "") -> str:
    """A status badge: colour from the class, meaning from the words."""
    status = str(status or "")
    return format_html(
        '<span class="badge {}">{}</span>', status, label or status.replace("_", " ")
    )


@register.filter
def when(value: datetime | None, fmt: str = WHEN_FORMAT) -> str:
    """``<time>`` in the organisation's zone; the UTC instant in ``datetime`` and the tooltip."""
    if not value:
        return mark_safe('<span class="muted">—</span>')
    utc = value.astimezone(zoneinfo.ZoneInfo("UTC"))
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        format_when(value, fmt),
    )


@register.filter
def day(value: date | datetime | None) -> str:
    """A day, ``2026-12-20``, the one date format of every page (``<time>`` element)."""
    if value is None or value == "":
        return mark_safe('<span class="muted">—</span>')
    text = format_day(value)
    return format_html('<time datetime="{}">{}</time>', text, text)


@register.filter
def collector_title(key: str) -> str:
    """The collector's title for a key (``aws_s3_buckets`` → "AWS S3 buckets")."""
    return evidence_selectors.collector_title(key)


@register.filter
def duration(start: datetime | None, end: datetime | None) -> str:
    """``{{ run.started_at|duration:run.finished_at }}``: real elapsed time, "—" if unknown.

    Django's ``timesince`` counts whole minutes, so every short run read "0 minutes".
    """
    return elapsed(start, end)


@register.filter
def api_call_list(value) -> list[tuple[str, int | None]]:
    """The provenance's API calls as ``(action, count or None)`` pairs.

    Collectors record a sorted list of actions; older items may hold ``{action: count}``.
    """
    if isinstance(value, dict):
        return sorted((str(k), v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [(str(v), None) for v in value]
    return []


@register.filter
def short_hash(value: str, length: int = 12) -> str:
    return (value or "")[: int(length)]


@register.filter
def pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}%" if value in (0, 100) or value >= 10 else f"{value:.1f}%"


@register.filter
def get_item(mapping: dict, key: str):
    return mapping.get(key) if mapping else None


@register.filter
def run_advice(run) -> str:
    """What to do about a failed run, in words (``pixaudit.evidence.run_errors``), or ""."""
    from pixaudit.evidence.run_errors import run_error_advice

    if run is None or getattr(run, "status", "") != "failed":
        return ""
    return run_error_advice(kind=run.error_kind, collector_key=run.collector_key)
