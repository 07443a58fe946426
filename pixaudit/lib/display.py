"""How values are shown to people, the same on every page and in every PDF."""

from __future__ import annotations

from datetime import datetime

__all__ = ["elapsed", "format_duration"]


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
