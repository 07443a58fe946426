"""CSV and XLSX of the exceptions register. Every text cell goes through
``pixaudit.lib.spreadsheet.spreadsheet_text`` (resource names and messages come from
collectors, notes and reasons from people: none may run as a formula)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
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


def export_rows(rows: Iterable[ExceptionRow]) -> Iterator[list]:
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


#: Bytes of CSV text gathered before a chunk is handed to the response.
CSV_CHUNK_CHARS = 64 * 1024


def export_csv_chunks(rows: Iterable[ExceptionRow]) -> Iterator[str]:
    """CSV text of ``rows`` (any iterable, e.g. ``exception_rows_stream``), yielded in pieces
    of about ``CSV_CHUNK_CHARS``: the first bytes leave before the last row is read."""
    writer = csv.writer(_Echo())
    parts = [writer.writerow([name for name, _ in COLUMNS])]
    size = len(parts[0])
    for values in export_rows(rows):
        line = writer.writerow(["" if v is None else v for v in values])
        parts.append(line)
        size += len(line)
        if size >= CSV_CHUNK_CHARS:
            yield "".join(parts)
            parts, size = [], 0
    if parts:
        yield "".join(parts)


GAP_COLUMNS = (
    ("framework", 16), ("control", 12), ("control_title", 48), ("first_day", 12),
    ("last_day", 12), ("days", 8), ("kinds", 36), ("open", 8), ("control_owner", 16),
)  # fmt: skip


def gap_rows(gaps) -> Iterator[list]:
    for gap in gaps:
        values = [
            gap.control.framework.key, gap.control.ref, gap.control.title, gap.first.isoformat(),
            gap.last.isoformat(), gap.days, gap.kinds_label, "yes" if gap.open else "no",
            gap.owner.get_username() if gap.owner else "",
        ]  # fmt: skip
        yield [spreadsheet_text(v) for v in values]


def _sheet(sheet, columns, rows: Iterable[list]) -> None:
    """Fill a write-only sheet: widths and frozen header first (they precede the rows in the
    file), a bold header row, the rows as they come, then the filter over all of them."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for index, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    header = []
    for name, _ in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    count = 0
    for values in rows:
        sheet.append(values)
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{count + 1}"


def export_xlsx(rows: Iterable[ExceptionRow], *, gaps=()) -> bytes:
    """A workbook: the exceptions sheet and the controls-without-evidence sheet, each with a
    frozen bold header row, filters and column widths. Written in openpyxl's write-only mode,
    so the rows (read in chunks by the caller) are never all held as cells in memory."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    _sheet(book.create_sheet("exceptions"), COLUMNS, export_rows(rows))
    _sheet(book.create_sheet("controls_without_evidence"), GAP_COLUMNS, gap_rows(gaps))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
