"""Read and validate an HR export (CSV or XLSX): one person per line, errors by line number.

The columns (header names are case-insensitive; spaces and dashes count as underscores):
``employee_id``, ``name``, ``work_email``, ``status``, ``start_date``, ``termination_date``
and optionally ``manager``. Statuses: ``active``, ``on_leave``, ``terminated`` (also
``inactive``, ``leave``, ``left``). Dates are ``YYYY-MM-DD`` (or real dates in a
spreadsheet). A terminated person needs a termination date; an active person whose
termination date is before their start date was rehired (the termination is the previous
employment's). :func:`parse_people` returns the rows or raises :class:`PeopleFileError`
listing every problem as ``line N: ...`` (the header is line 1), so nothing is half-read.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Any

__all__ = ["HEADERS", "MAX_BYTES", "PeopleFileError", "normalise_status", "parse_people"]

HEADERS = ("employee_id", "name", "work_email", "status", "start_date", "termination_date")
OPTIONAL = ("manager",)
MAX_BYTES = 10 * 1024 * 1024
_STATUSES = {
    "active": "active",
    "on_leave": "on_leave",
    "leave": "on_leave",
    "terminated": "terminated",
    "inactive": "terminated",
    "left": "terminated",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_ERRORS = 50


class PeopleFileError(ValueError):
    """The file cannot be used; ``errors`` are ``(line, message)`` pairs (line 0: the file)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        shown = [f"line {n}: {m}" if n else m for n, m in errors[:_MAX_ERRORS]]
        more = len(errors) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more > 0 else ""))


def normalise_status(value: Any) -> str | None:
    """``active``, ``on_leave`` or ``terminated`` for a known status word, else ``None``."""
    key = re.sub(r"[\s\-]+", "_", str(value or "").strip().lower())
    return _STATUSES.get(key)


def _header(value: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(value or "").strip().lower())


def _records(data: bytes, filename: str) -> list[tuple[int, list[Any]]]:
    """``(line number, cells)`` of every line, the header first."""
    if filename.lower().endswith(".xlsx"):
        import openpyxl  # imported when reading, never at import time

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many types for a damaged file
            raise PeopleFileError([(0, "the file is not a readable XLSX workbook")]) from None
        sheet = book.worksheets[0]
        out = [(n, list(cells)) for n, cells in enumerate(sheet.iter_rows(values_only=True), 1)]
        book.close()
        return out
    if not filename.lower().endswith(".csv"):
        raise PeopleFileError([(0, "upload a .csv or .xlsx file")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PeopleFileError([(0, "the CSV file is not UTF-8 text")]) from None
    return [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1)]


def _date(value: Any, column: str, line: int, errors: list[tuple[int, str]]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        errors.append((line, f"{column} {text!r} is not a date (YYYY-MM-DD)"))
        return None


def parse_people(data: bytes, filename: str) -> list[dict[str, Any]]:
    """Validated people of an HR export, sorted by employee id; see the module docstring."""
    if len(data) > MAX_BYTES:
        raise PeopleFileError([(0, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")])
    records = [(n, cells) for n, cells in _records(data, filename)
               if any(str(c or "").strip() for c in cells)]  # fmt: skip
    if not records:
        raise PeopleFileError([(0, "the file is empty")])
    header_line, header = records[0]
    names = [_header(h) for h in header]
    missing = [h for h in HEADERS if h not in names]
    if missing:
        raise PeopleFileError([(header_line, f"missing column(s): {', '.join(missing)} "
                                f"(expected {', '.join(HEADERS + OPTIONAL)})")])  # fmt: skip
    index = {name: names.index(name) for name in (*HEADERS, *OPTIONAL) if name in names}
    errors: list[tuple[int, str]] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, cells in records[1:]:

        def cell(name: str, cells: list[Any] = cells) -> Any:
            i = index.get(name)
            return cells[i] if i is not None and i < len(cells) else None

        before = len(errors)
        employee = str(cell("employee_id") or "").strip()
        if isinstance(cell("employee_id"), float) and cell("employee_id").is_integer():
            employee = str(int(cell("employee_id")))
        name = str(cell("name") or "").strip()
        email = str(cell("work_email") or "").strip().lower()
        raw_status = cell("status")
        status = normalise_status(raw_status)
        start = _date(cell("start_date"), "start_date", line, errors)
        end = _date(cell("termination_date"), "termination_date", line, errors)
        if not employee:
            errors.append((line, "employee_id is empty"))
        elif employee in seen:
            errors.append((line, f"employee_id {employee} repeats line {seen[employee]}"))
        else:
            seen[employee] = line
        if not name:
            errors.append((line, "name is empty"))
        if email and not _EMAIL.match(email):
            errors.append((line, f"work_email {email!r} is not an e-mail address"))
        if status is None:
            errors.append((line, f"status {str(raw_status or '')!r} is not one of active, "
                           "on_leave, terminated"))  # fmt: skip
        if status in ("active", "on_leave") and not email:
            errors.append((line, "work_email is empty for a current employee"))
        if not start and not any(m.startswith("start_date") for _, m in errors[before:]):
            errors.append((line, "start_date is empty"))
        if (
            status == "terminated"
            and not end
            and not any(m.startswith("termination_date") for _, m in errors[before:])
        ):
            errors.append((line, "termination_date is empty for a terminated employee"))
        if status == "terminated" and start and end and end < start:
            errors.append((line, f"termination_date {end} is before start_date {start}"))
        if len(errors) == before:
            manager = str(cell("manager") or "").strip() or None
            rows.append({"employee_id": employee, "name": name, "work_email": email or None,
                         "status": status, "start_date": start, "termination_date": end,
                         "manager": manager, "line": line})  # fmt: skip
    if errors:
        raise PeopleFileError(errors)
    return sorted(rows, key=lambda r: r["employee_id"])
