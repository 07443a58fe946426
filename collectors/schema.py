"""Validate and coerce collector rows against the declared columns (vectorised with pandas).

Output values are plain Python (``str``, ``int``, ``float``, ``bool``, ``None``, or the
JSON value as given): no numpy scalars and no NaN.

NaN and ±Infinity are refused in every column (inside JSON values too) with an error naming
the column and the row, instead of being stored as null: such a value means a computation
went wrong, not that a value is missing, and storing it as null would let an assertion skip
the row silently. ``None`` (or pandas' ``NaT``/``NA``) is how a collector says "no value".

Datetimes become UTC ISO-8601 strings in one fixed form, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
(:func:`format_datetime`), dates ``YYYY-MM-DD``; identical inputs therefore always serialise
to identical bytes.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from collectors.base import CollectorError, Column

__all__ = ["DATETIME_FORMAT", "coerce_chunks", "coerce_rows", "format_date", "format_datetime"]

#: strftime form of canonical datetimes (always UTC, microseconds, ``Z``).
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_TRUE = frozenset({"true", "yes", "y", "t", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "off"})


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    else:
        raise ValueError(f"expected a datetime or ISO-8601 string, got {type(value).__name__}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)  # naive values are taken as UTC
    return dt.astimezone(UTC)


def format_datetime(value: datetime | date | str) -> str:
    """Return the canonical UTC form ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` of ``value``.

    Accepts aware or naive datetimes (naive = UTC), dates (midnight UTC) and ISO-8601
    strings. :func:`coerce_rows` produces exactly this form, vectorised.
    """
    return _parse_datetime(value).strftime(DATETIME_FORMAT)


def format_date(value: datetime | date | str) -> str:
    """Return ``YYYY-MM-DD`` for a date, a datetime (its UTC date) or an ISO-8601 string."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return _parse_datetime(value).date().isoformat()


def _is_null(value: Any) -> bool:
    """``None`` and pandas' missing markers; NaN is not "missing" (see the module docstring)."""
    return value is None or value is pd.NaT or value is pd.NA


def _null_mask(values: list[Any]) -> np.ndarray:
    return np.fromiter((_is_null(v) for v in values), dtype=bool, count=len(values))


def _not_finite(value: Any) -> bool:
    """NaN or ±Infinity as a float, a numpy float or a Decimal."""
    if isinstance(value, float | np.floating):
        return not math.isfinite(value)
    if isinstance(value, Decimal):
        return not value.is_finite()
    return False


def _not_finite_error(column: Column, index: int, value: Any, where: str = "") -> CollectorError:
    inside = f" at {where}" if where else ""
    shown = repr(float(value)) if isinstance(value, float | np.floating) else repr(value)
    return CollectorError(
        f"column {column.name!r}, row {index}{inside}: {shown} is not a finite number; NaN "
        "and ±Infinity are not stored as evidence (return None for a missing value)",
        permanent=True,
    )


def _bad(column: Column, index: int, value: Any, detail: str = "") -> CollectorError:
    if _not_finite(value):
        return _not_finite_error(column, index, value)
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    suffix = f" ({detail})" if detail else ""
    return CollectorError(
        f"column {column.name!r}, row {index}: cannot coerce {shown} to {column.dtype}{suffix}",
        permanent=True,
    )


def _first_bad(column: Column, values: list[Any], ok: np.ndarray, null_in: np.ndarray) -> None:
    bad = np.flatnonzero(~ok & ~null_in)
    if bad.size:
        index = int(bad[0])
        raise _bad(column, index, values[index])


def _coerce_string(column: Column, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for index, value in enumerate(values):
        if type(value) is str or value is None:
            out.append(value)
        elif _is_null(value):
            out.append(None)
        elif _not_finite(value):
            raise _not_finite_error(column, index, value)
        elif isinstance(value, str):
            out.append(str(value))
        elif isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise _bad(column, index, value)
        else:
            out.append(str(value))
    return out


def _numeric(column: Column, values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (float values, input-null mask), rejecting booleans and non-numbers."""
    series = pd.Series(values, dtype=object)
    null_in = _null_mask(values)  # NaN is not null: it fails the finiteness check below
    is_bool = series.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy()
    if is_bool.any():
        index = int(np.flatnonzero(is_bool)[0])
        raise _bad(column, index, values[index])
    numbers = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
    _first_bad(column, values, ~np.isnan(numbers), null_in)
    return numbers, null_in


def _coerce_integer(column: Column, values: list[Any]) -> list[Any]:
    if all(type(v) is int or v is None for v in values):
        return list(values)  # fast path: already plain ints (also keeps ints beyond 2**53)
    numbers, null_in = _numeric(column, values)
    whole = np.isfinite(numbers) & (np.floor(numbers) == numbers)
    _first_bad(column, values, whole, null_in)
    out: list[Any] = []
    for value, number, null in zip(values, numbers.tolist(), null_in.tolist(), strict=True):
        if null:
            out.append(None)
        elif type(value) is int:
            out.append(value)
        else:
            out.append(int(number))
    return out


def _coerce_float(column: Column, values: list[Any]) -> list[Any]:
    numbers, null_in = _numeric(column, values)
    _first_bad(column, values, np.isfinite(numbers), null_in)
    return [
        None if null else number for number, null in zip(numbers.tolist(), null_in, strict=True)
    ]


def _coerce_boolean(column: Column, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for index, value in enumerate(values):
        if value is True or value is False or value is None:
            out.append(value)
        elif isinstance(value, bool | np.bool_):
            out.append(bool(value))
        elif _is_null(value):
            out.append(None)
        elif isinstance(value, int | np.integer) and value in (0, 1):
            out.append(bool(value))
        elif isinstance(value, str) and value.strip().lower() in _TRUE:
            out.append(True)
        elif isinstance(value, str) and value.strip().lower() in _FALSE:
            out.append(False)
        else:
            raise _bad(column, index, value)
    return out


def _to_utc_series(column: Column, values: list[Any]) -> tuple[pd.Series, np.ndarray]:
    series = pd.Series(values, dtype=object)
    null_in = _null_mask(values)
    wrong_type = series.map(
        lambda v: not isinstance(v, str | datetime | date | pd.Timestamp) and not _is_null(v)
    ).to_numpy()
    if wrong_type.any():
        index = int(np.flatnonzero(wrong_type)[0])
        raise _bad(column, index, values[index])
    # utc=True takes naive values as UTC, which is the contract for naive datetimes.
    try:
        parsed: pd.Series | None = pd.to_datetime(
            series, utc=True, errors="coerce", format="ISO8601"
        )
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is None or int(parsed.isna().to_numpy().sum()) != int(null_in.sum()):
        # the fast path rejected something: parse per value for a precise error
        fallback = []
        for index, value in enumerate(values):
            if _is_null(value):
                fallback.append(pd.NaT)
                continue
            try:
                fallback.append(pd.Timestamp(_parse_datetime(value)))
            except (ValueError, OverflowError) as exc:
                raise _bad(column, index, value, str(exc)) from None
        parsed = pd.Series(pd.DatetimeIndex(fallback, tz=UTC))
    return parsed, null_in


def _coerce_datetime(column: Column, values: list[Any]) -> list[Any]:
    parsed, null_in = _to_utc_series(column, values)
    naive = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    text = np.datetime_as_string(naive, unit="us")
    return [None if null else f"{s}Z" for s, null in zip(text.tolist(), null_in, strict=True)]


def _coerce_date(column: Column, values: list[Any]) -> list[Any]:
    if all(type(v) is date or v is None for v in values):
        return [None if v is None else v.isoformat() for v in values]
    parsed, null_in = _to_utc_series(column, values)
    naive = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    text = np.datetime_as_string(naive, unit="D")
    out: list[Any] = []
    for value, s, null in zip(values, text.tolist(), null_in, strict=True):
        if null:
            out.append(None)
        elif type(value) is date:  # a plain date is a calendar date, not midnight UTC
            out.append(value.isoformat())
        else:
            out.append(s)
    return out


def _first_not_finite(value: Any, path: str) -> tuple[Any, str] | None:
    """The first NaN/±Infinity inside a JSON value, with its path, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_not_finite(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _first_not_finite(item, f"{path}[{i}]")
            if found:
                return found
    elif _not_finite(value):
        return value, path
    return None


def _coerce_json(column: Column, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for index, value in enumerate(values):
        if _is_null(value):
            out.append(None)
            continue
        if not isinstance(value, str | int | bool):
            found = _first_not_finite(value, column.name)
            if found:
                where = "" if found[1] == column.name else found[1]
                raise _not_finite_error(column, index, found[0], where)
        out.append(value)
    return out


_COERCERS: dict[str, Callable[[Column, list[Any]], list[Any]]] = {
    "string": _coerce_string,
    "integer": _coerce_integer,
    "float": _coerce_float,
    "boolean": _coerce_boolean,
    "datetime": _coerce_datetime,
    "date": _coerce_date,
    "json": _coerce_json,
}


#: Rows coerced at a time when a collector yields them (an iterator, not a list).
STREAM_CHUNK = 500
_ROW_INDEX_RE = re.compile(r"\brow (\d+)")


def coerce_rows(columns: Sequence[Column], rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Check ``rows`` against ``columns`` and return new rows with coerced, plain values.

    Every output row has exactly the declared columns in declared order; a missing column is
    ``None``. An undeclared column, a row that is not a mapping, or a value that cannot be
    coerced raises ``CollectorError(permanent=True)`` naming the column and the row index.

    ``rows`` may be a list or any iterable: a collector whose ``collect`` yields its rows is
    coerced :data:`STREAM_CHUNK` rows at a time, so its raw rows are never all held next to
    their coerced copies (the memory of a large population is then one copy, not two).
    """
    if isinstance(rows, Sequence):
        return _coerce_chunk(columns, rows)
    out: list[dict[str, Any]] = []
    for chunk in coerce_chunks(columns, rows):
        out.extend(chunk)
    return out


def coerce_chunks(
    columns: Sequence[Column], rows: Iterable[Any], *, size: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """:func:`coerce_rows` as a stream: coerced rows ``size`` (default :data:`STREAM_CHUNK`)
    at a time, in the collector's order, with row indices in error messages counted from the
    first row of the whole stream.

    The runner consumes a collection this way so that only one chunk of rows is in memory
    while the rest is written to disk (:mod:`collectors.spool`).
    """
    iterator = iter(rows)
    offset = 0
    while chunk := list(itertools.islice(iterator, size or STREAM_CHUNK)):
        try:
            coerced = _coerce_chunk(columns, chunk)
        except CollectorError as exc:
            found = _ROW_INDEX_RE.search(str(exc))
            if not offset or found is None:
                raise
            message = _ROW_INDEX_RE.sub(f"row {int(found[1]) + offset}", str(exc), count=1)
            raise CollectorError(
                message, permanent=exc.permanent, action=exc.action, kind=exc.kind
            ) from None
        offset += len(chunk)
        del chunk
        yield coerced


def _coerce_chunk(columns: Sequence[Column], rows: Sequence[Any]) -> list[dict[str, Any]]:
    """:func:`coerce_rows` of one list of rows (indices in messages are within it)."""
    if not rows:
        return []
    names = [c.name for c in columns]
    declared = set(names)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise CollectorError(
                f"row {index} is a {type(row).__name__}, expected a dict", permanent=True
            )
    seen_keys: set[str] = set().union(*(row.keys() for row in rows))
    unknown = sorted(str(k) for k in seen_keys - declared)
    if unknown:
        name = unknown[0]
        index = next(i for i, row in enumerate(rows) if name in row)
        raise CollectorError(
            f"undeclared column {name!r} in row {index} (declared: {', '.join(names)})",
            permanent=True,
        )
    coerced_columns = []
    for column in columns:
        coercer = _COERCERS.get(column.dtype)
        if coercer is None:
            raise CollectorError(
                f"column {column.name!r} has unknown dtype {column.dtype!r}", permanent=True
            )
        values = [row.get(column.name) for row in rows]
        coerced_columns.append(coercer(column, values))
    return [dict(zip(names, vals, strict=True)) for vals in zip(*coerced_columns, strict=True)]
