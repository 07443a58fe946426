"""How values are shown to people, the same on every page and in every PDF.

Dates are ISO 8601 days ("2026-12-20"); times are 24-hour with the zone's name
("2026-12-20 14:05 UTC"), in the organisation's display zone (``PIXAUDIT_DISPLAY_TZ``).
Django's own date rendering (``{{ a_date }}``, ``|date`` without a format) uses the same
formats through ``pixaudit.formats``; templates use ``|day`` and ``|when``, Python code
``format_day`` and ``format_when``.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

from django.conf import settings

__all__ = [
    "DAY_FORMAT",
    "DJANGO_DATETIME_FORMAT",
    "DJANGO_DATE_FORMAT",
    "DJANGO_TIME_FORMAT",
    "WHEN_FORMAT",
    "display_zone",
    "elapsed",
    "format_day",
    "format_duration",
    "format_when",
]

#: strftime formats.
DAY_FORMAT = "%Y-%m-%d"
WHEN_FORMAT = "%Y-%m-%d %H:%M"
#: The same in Django's date-format syntax (``pixaudit.formats``).
DJANGO_DATE_FORMAT = "Y-m-d"
DJANGO_DATETIME_FORMAT = "Y-m-d H:i T"
DJANGO_TIME_FORMAT = "H:i"


def display_zone() -> zoneinfo.ZoneInfo:
    """The organisation's zone for display (UTC when unset or unknown)."""
    try:
        return zoneinfo.ZoneInfo(getattr(settings, "PIXAUDIT_DISPLAY_TZ", "UTC") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def format_day(value: date | datetime | None) -> str:
    """``2026-12-20``; a datetime is first moved to the display zone. "—" for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(display_zone()) if value.tzinfo else value
    return value.strftime(DAY_FORMAT)


def format_when(value: datetime | None, fmt: str = WHEN_FORMAT) -> str:
    """``2026-12-20 14:05 UTC`` in the display zone. "—" for nothing."""
    if not value:
        return "—"
    local = value.astimezone(display_zone())
    return f"{local.strftime(fmt)} {local.tzname() or ''}".rstrip()


def format_duration(seconds: float | None) -> str:
    """A run's duration for people: "0.4 s", "4.2 s", "42 s", "3 min 12 s", "2 h 5 min"."""
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def elapsed(start: datetime | None, end: datetime | None) -> str:
    """The time from ``start`` to ``end`` (:func:`format_duration`), "—" when either is unset."""
    if not start or not end:
        return "—"
    return format_duration((end - start).total_seconds())
