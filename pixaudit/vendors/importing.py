"""Read and validate a vendor register file (CSV or XLSX) and write one back (export).

One vendor per line; header names are case-insensitive (spaces and dashes count as
underscores). Required columns: ``name``, ``purpose``, ``criticality``, ``processor``; the
others (:data:`OPTIONAL`) may be absent or empty. Dates are ``YYYY-MM-DD`` (or real dates in
a spreadsheet), yes/no columns take yes/no/true/false/1/0, list columns are separated by
``;``. :func:`parse_register` returns every row or raises :class:`RegisterFileError` listing
every problem as (line, column, message), the header being line 1, so nothing is half-read.
:func:`export_rows` / :func:`export_csv` / :func:`export_xlsx` write the same columns, so an
export imports again unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Any

from pixaudit.lib.single_line import control_characters
from pixaudit.vendors.models import Criticality, ReportKind

__all__ = [
    "HEADERS",
    "OPTIONAL",
    "RegisterFileError",
    "export_csv",
    "export_rows",
    "export_xlsx",
    "parse_register",
]

HEADERS = ("name", "purpose", "criticality", "processor")
OPTIONAL = (
    "data_categories", "subprocessor", "subprocessors", "dpa_signed_on", "dpa_version",
    "dpa_expires_on", "report_kind", "report_issuer", "report_period_start",
    "report_period_end", "report_expires_on", "last_review_on", "next_review_on", "notes",
)  # fmt: skip
_DATES = ("dpa_signed_on", "dpa_expires_on", "report_period_start", "report_period_end",
          "report_expires_on", "last_review_on", "next_review_on")  # fmt: skip
_LISTS = ("data_categories", "subprocessors")
_TRUE = {"yes", "y", "true", "t", "1", "x"}
_FALSE = {"no", "n", "false", "f", "0", ""}
_LIMITS = {"name": 200, "purpose": 500, "dpa_version": 100, "report_issuer": 200}
_MAX_ERRORS = 100


class RegisterFileError(ValueError):
    """The file cannot be used; ``errors`` are ``(line, column, message)`` (line 0: the file,
    column "": the whole line)."""

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        self.errors = errors
        shown = [
            (f"line {n}" + (f", column {c}" if c else "") + f": {m}") if n else m
            for n, c, m in errors[:_MAX_ERRORS]
        ]
        more = len(errors) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more > 0 else ""))


def _header(value: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(value or "").strip().lower())


def _records(data: bytes, filename: str) -> list[tuple[int, list[Any]]]:
    if filename.lower().endswith(".xlsx"):
        import openpyxl  # imported when reading, never at import time

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many types for a damaged file
            raise RegisterFileError([(0, "", "the file is not a readable XLSX workbook")]) from None
        sheet = book.worksheets[0]
        out = [(n, list(cells)) for n, cells in enumerate(sheet.iter_rows(values_only=True), 1)]
        book.close()
        return out
    if not filename.lower().endswith(".csv"):
        raise RegisterFileError([(0, "", "upload a .csv or .xlsx file")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RegisterFileError([(0, "", "the CSV file is not UTF-8 text")]) from None
    try:
        return [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1)]
    except csv.Error as exc:
        raise RegisterFileError([(0, "", f"the CSV file cannot be read: {exc}")]) from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    return date.fromisoformat(text) if text else None


def parse_register(data: bytes, filename: str) -> list[dict[str, Any]]:
    """Validated vendors of a register file, in file order; see the module docstring."""
    records = [(n, cells) for n, cells in _records(data, filename or "")
               if any(_text(c) for c in cells)]  # fmt: skip
    if not records:
        raise RegisterFileError([(0, "", "the file is empty")])
    header_line, header = records[0]
    names = [_header(h) for h in header]
    missing = [h for h in HEADERS if h not in names]
    unknown = [h for h in names if h and h not in HEADERS + OPTIONAL]
    if missing or unknown:
        problems = []
        if missing:
            problems.append((header_line, "", f"missing column(s): {', '.join(missing)}"))
        for name in unknown:
            problems.append((header_line, name, "unknown column (expected "
                             f"{', '.join(HEADERS + OPTIONAL)})"))  # fmt: skip
        raise RegisterFileError(problems)
    index = {name: names.index(name) for name in HEADERS + OPTIONAL if name in names}
    criticalities = set(Criticality.values)
    report_kinds = {k for k in ReportKind.values if k}
    errors: list[tuple[int, str, str]] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, cells in records[1:]:

        def cell(name: str, cells: list[Any] = cells) -> Any:
            i = index.get(name)
            return cells[i] if i is not None and i < len(cells) else None

        before = len(errors)
        row: dict[str, Any] = {"line": line}
        for name in ("name", "purpose", "dpa_version", "report_issuer", "notes"):
            text = _text(cell(name))
            if name != "notes" and (found := control_characters(text)):
                errors.append(
                    (line, name, f"use a single line of text (remove {', '.join(found)})")
                )
            if name in _LIMITS and len(text) > _LIMITS[name]:
                errors.append((line, name, f"longer than {_LIMITS[name]} characters"))
            row[name] = text
        for name in ("name", "purpose"):
            if not row[name]:
                errors.append((line, name, "is empty"))
        key = row["name"].casefold()
        if row["name"] and key in seen:
            errors.append((line, "name", f"{row['name']!r} repeats line {seen[key]}"))
        elif row["name"]:
            seen[key] = line
        criticality = _text(cell("criticality")).lower()
        if criticality not in criticalities:
            errors.append((line, "criticality", f"{criticality!r} is not one of "
                           f"{', '.join(Criticality.values)}"))  # fmt: skip
        row["criticality"] = criticality
        for name in ("processor", "subprocessor"):
            text = _text(cell(name)).lower()
            if name == "processor" and not text:
                errors.append((line, name, "is empty (yes or no)"))
            elif text in _TRUE or text in _FALSE:
                row[f"is_{name}"] = text in _TRUE
            else:
                errors.append((line, name, f"{text!r} is not yes or no"))
        for name in _LISTS:
            items = [i.strip() for i in _text(cell(name)).split(";") if i.strip()]
            if any(control_characters(i) for i in items):
                errors.append((line, name, "use single-line names separated by ';'"))
            row[name] = items
        for name in _DATES:
            try:
                row[name] = _date(cell(name))
            except ValueError:
                errors.append((line, name, f"{_text(cell(name))!r} is not a date (YYYY-MM-DD)"))
        kind = _text(cell("report_kind")).lower()
        if kind and kind not in report_kinds:
            errors.append((line, "report_kind", f"{kind!r} is not one of "
                           f"{', '.join(sorted(report_kinds))} (or empty)"))  # fmt: skip
        row["report_kind"] = kind
        if len(errors) == before:
            start, end = row["report_period_start"], row["report_period_end"]
            if start and end and end < start:
                errors.append((line, "report_period_end", f"{end} is before "
                               f"report_period_start {start}"))  # fmt: skip
            if (start or end or row["report_expires_on"] or row["report_issuer"]) and not kind:
                errors.append((line, "report_kind", "is empty but the row describes a report"))
            if (row["dpa_version"] or row["dpa_expires_on"]) and not row["dpa_signed_on"]:
                errors.append((line, "dpa_signed_on", "is empty but the row describes a DPA"))
        if len(errors) == before:
            rows.append(row)
    if errors:
        raise RegisterFileError(errors)
    return rows


def export_rows(vendors: list[Any]) -> list[list[Any]]:
    """The register as lines (header first), in the import's columns."""
    out: list[list[Any]] = [list(HEADERS + OPTIONAL)]
    for v in vendors:
        values = {
            "name": v.name, "purpose": v.purpose, "criticality": v.criticality,
            "processor": "yes" if v.is_processor else "no",
            "subprocessor": "yes" if v.is_subprocessor else "no",
            "data_categories": "; ".join(v.data_categories or []),
            "subprocessors": "; ".join(v.subprocessors or []),
            "dpa_version": v.dpa_version, "report_kind": v.report_kind,
            "report_issuer": v.report_issuer, "notes": v.notes,
        }  # fmt: skip
        for name in _DATES:
            day = getattr(v, name)
            values[name] = day.isoformat() if day else ""
        out.append([values[h] for h in out[0]])
    return out


def _safe_cell(value: Any) -> Any:
    # A cell a spreadsheet would run as a formula is written as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_csv(vendors: list[Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in export_rows(vendors):
        writer.writerow([_safe_cell(c) for c in line])
    return buffer.getvalue().encode("utf-8")


def export_xlsx(vendors: list[Any]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Vendors"
    for line in export_rows(vendors):
        sheet.append([_safe_cell(c) for c in line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
