"""Small presentation helpers: status badges, times in the organisation's zone, hashes."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from pixaudit.lib.display import elapsed

register = template.Library()


def _display_zone() -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(getattr(settings, "PIXAUDIT_DISPLAY_TZ", "UTC") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@register.simple_tag
def badge(status: str, label: str = "") -> str:
    """A status badge: colour from the class, meaning from the words."""
    status = str(status or "")
    return format_html(
        '<span class="badge {}">{}</span>', status, label or status.replace("_", " ")
    )


@register.filter
def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``<time>`` in the organisation's zone; the UTC instant in ``datetime`` and the tooltip."""
    if not value:
        return mark_safe('<span class="muted">—</span>')
    local = value.astimezone(_display_zone())
    utc = value.astimezone(zoneinfo.ZoneInfo("UTC"))
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime(fmt),
        local.tzname() or "",
    )


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
