"""CSV and XLSX of the exceptions register. Every text cell goes through
``pixaudit.lib.spreadsheet.spreadsheet_text`` (resource names and messages come from
collectors, notes and reasons from people: none may run as a formula)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from pixaudit.exceptions.selectors import ExceptionRow
from pixaudit.lib.display import format_when
from pixaudit.lib.spreadsheet import spreadsheet_text

__all__ = ["COLUMNS", "export_csv_chunks", "export_rows", "export_xlsx"]

COLUMNS = (
    ("id", 8), ("status", 10), ("severity", 10), ("assertion", 36), ("resource", 40),
    ("connection", 20), ("controls", 28), ("opened_at", 22), ("closed_at", 22),
    ("duration_days", 13), ("deadline", 22), ("deadline_status", 16), ("start_evidence_seq", 12),
    ("end_evidence_seq", 12), ("end_reason", 12), ("owner", 16), ("note", 40),
    ("accepted_until", 14), ("accepted_by", 16), ("acceptance_reason", 40), ("message", 60),
)  # fmt: skip


def _when(value: datetime | None) -> str:
    return format_when(value) if value else ""


def export_rows(rows: list[ExceptionRow]) -> Iterator[list]:
    """One list of cell values per exception, in ``COLUMNS`` order (formula-safe text)."""
    for row in rows:
        r, acc = row.record, row.acceptance
        values = [
            r.pk, row.status, r.severity, r.assertion_id, r.resource,
            r.connection.name if r.connection_id else "", " ".join(row.control_addresses),
            _when(r.opened_at), _when(r.closed_at), row.duration_days,
            _when(row.deadline_at), row.deadline_label, r.start_seq, r.end_seq,
            r.get_end_reason_display() if r.end_reason else "",
            row.owner.get_username() if row.owner else "", r.note,
            acc.expires_on.isoformat() if acc else "",
            acc.decided_by.get_username() if acc and acc.decided_by_id else "",
            acc.reason if acc else "", r.message,
        ]  # fmt: skip
        yield [spreadsheet_text(v) for v in values]


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_csv_chunks(rows: list[ExceptionRow]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in COLUMNS])
    for values in export_rows(rows):
        yield writer.writerow(["" if v is None else v for v in values])


def export_xlsx(rows: list[ExceptionRow]) -> bytes:
    """A workbook with one sheet: frozen header row, filters, column widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "exceptions"
    sheet.append([name for name, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    count = 0
    for values in export_rows(rows):
        sheet.append(values)
        count += 1
    for index, (_, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
