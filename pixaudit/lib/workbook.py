"""XLSX workbooks for auditors: every sheet with a frozen, bold header row, an autofilter
over the data and column widths that fit the content (openpyxl).

Text cells go through ``spreadsheet_text`` so collector data and user-written text are
never run as formulas. Timezone-aware datetimes are written in UTC (Excel has no zones;
the header says "(UTC)").
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pixaudit.lib.spreadsheet import spreadsheet_text

__all__ = ["Sheet", "workbook_bytes"]

MIN_WIDTH = 8
MAX_WIDTH = 80


class Sheet:
    """A sheet to write: a title (at most 31 characters), headers and rows."""

    def __init__(self, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]):
        self.title = title[:31]
        self.headers = list(headers)
        self.rows = rows


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, list | tuple | set):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    return spreadsheet_text(value)


def _width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The XLSX bytes of ``sheets``, each with frozen headers, a filter and fitted widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for spec in sheets:
        sheet = book.create_sheet(spec.title)
        sheet.append(spec.headers)
        widths = [len(h) for h in spec.headers]
        count = 0
        for row in spec.rows:
            values = [_cell(v) for v in row]
            sheet.append(values)
            count += 1
            for i, value in enumerate(values[: len(widths)]):
                widths[i] = max(widths[i], _width(value))
        for cell in sheet[1]:
            cell.font = bold
            cell.alignment = Alignment(vertical="top")
        sheet.freeze_panes = "A2"
        last = get_column_letter(max(len(spec.headers), 1))
        sheet.auto_filter.ref = f"A1:{last}{count + 1}"
        for i, width in enumerate(widths, 1):
            sheet.column_dimensions[get_column_letter(i)].width = min(
                max(width + 2, MIN_WIDTH), MAX_WIDTH
            )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
