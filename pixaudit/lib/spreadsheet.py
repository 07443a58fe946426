"""Text destined for CSV/XLSX cells that a spreadsheet must never run as a formula."""

from __future__ import annotations

from typing import Any

#: A cell starting with one of these is a formula (or DDE) in Excel, LibreOffice, Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would evaluate.

    Non-text values (numbers, dates, None) are returned unchanged. Collector data (resource
    names, messages) and user-chosen names are untrusted and go through this.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return f"'{value}"
    return value
