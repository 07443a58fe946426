"""coerce_rows: each dtype, undeclared columns, bad values, plain output, volume."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from collectors import CollectorError, Column
from collectors.schema import coerce_rows, format_date, format_datetime

COLUMNS = (
    Column("name", "string", "Name."),
    Column("count", "integer", "Count."),
    Column("ratio", "float", "Ratio."),
    Column("enabled", "boolean", "Flag."),
    Column("seen_at", "datetime", "Timestamp."),
    Column("day", "date", "Day."),
    Column("doc", "json", "Raw document."),
)


def test_each_dtype_is_coerced_to_plain_values() -> None:
    rows = [
        {
            "name": "a",
            "count": "12",
            "ratio": "0.25",
            "enabled": "yes",
            "seen_at": "2024-03-01T10:00:00+02:00",
            "day": "2024-03-01",
            "doc": {"k": [1, 2]},
        },
        {
            "name": 5,
            "count": 3.0,
            "ratio": 1,
            "enabled": 0,
            "seen_at": datetime(2024, 1, 1, 1, 2, 3, 4),  # naive = UTC
            "day": datetime(2024, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
            "doc": [1],
        },
        {"name": None, "count": np.int64(7), "ratio": None, "seen_at": pd.NaT},
    ]
    out = coerce_rows(COLUMNS, rows)
    assert out[0] == {
        "name": "a",
        "count": 12,
        "ratio": 0.25,
        "enabled": True,
        "seen_at": "2024-03-01T08:00:00.000000Z",
        "day": "2024-03-01",
        "doc": {"k": [1, 2]},
    }
    assert out[1] == {
        "name": "5",
        "count": 3,
        "ratio": 1.0,
        "enabled": False,
        "seen_at": "2024-01-01T01:02:03.000004Z",
        "day": "2024-01-02",  # the UTC date of 23:30 at -02:00
        "doc": [1],
    }
    # missing columns are None, so are NaT and None; numpy scalars become Python ints
    assert out[2] == {
        "name": None,
        "count": 7,
        "ratio": None,
        "enabled": None,
        "seen_at": None,
        "day": None,
        "doc": None,
    }
    assert type(out[2]["count"]) is int
    json.dumps(out, allow_nan=False)  # plain, JSON-safe values only


def test_output_has_declared_column_order() -> None:
    [row] = coerce_rows(COLUMNS, [{"doc": 1, "name": "x"}])
    assert list(row) == [c.name for c in COLUMNS]


def test_plain_dates_stay_calendar_dates() -> None:
    out = coerce_rows(COLUMNS, [{"day": date(2020, 2, 29)}, {"day": "2021-12-31"}])
    assert [r["day"] for r in out] == ["2020-02-29", "2021-12-31"]


def test_vectorised_datetimes_match_format_datetime() -> None:
    values = [
        "2024-03-01T10:00:00Z",
        "2024-03-01T10:00:00.123+05:30",
        datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2023, 6, 1, 12, 0),
        date(2022, 1, 1),
    ]
    for value in values:
        [row] = coerce_rows(COLUMNS, [{"seen_at": value}])
        assert row["seen_at"] == format_datetime(value)
    assert format_datetime("2024-03-01T10:00:00.123+05:30") == "2024-03-01T04:30:00.123000Z"
    assert format_date(datetime(2024, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))) == (
        "2024-01-02"
    )


def test_large_integers_survive() -> None:
    [row] = coerce_rows(COLUMNS, [{"count": 2**62 + 1}])
    assert row["count"] == 2**62 + 1


def test_unknown_column_is_a_permanent_error_naming_it() -> None:
    with pytest.raises(CollectorError) as info:
        coerce_rows(COLUMNS, [{"name": "a"}, {"name": "b", "colour": "red"}])
    assert info.value.permanent is True
    assert "'colour'" in info.value.message
    assert "row 1" in info.value.message


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("count", "twelve"),
        ("count", 2.5),
        ("count", True),
        ("ratio", "abc"),
        ("ratio", math.inf),
        ("enabled", "maybe"),
        ("enabled", 2),
        ("seen_at", "not a date"),
        ("seen_at", 1700000000),
        ("day", "2024-13-45"),
        ("name", {"a": 1}),
    ],
)
def test_bad_value_names_column_and_row(column: str, value: object) -> None:
    rows = [{column: None}, {column: None}, {column: value}]
    with pytest.raises(CollectorError) as info:
        coerce_rows(COLUMNS, rows)
    assert info.value.permanent is True
    assert f"column {column!r}, row 2" in info.value.message


def test_non_dict_row_is_rejected() -> None:
    with pytest.raises(CollectorError, match="row 1 is a list"):
        coerce_rows(COLUMNS, [{}, ["a"]])


def test_empty_input() -> None:
    assert coerce_rows(COLUMNS, []) == []


def test_hundred_thousand_rows() -> None:
    # a volume sanity check (no timing assertion: performance lives in benchmarks/)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {
            "name": f"r{i}",
            "count": i,
            "ratio": i / 7,
            "enabled": i % 2 == 0,
            "seen_at": base + timedelta(seconds=i),
            "day": "2024-01-02",
            "doc": {"i": i},
        }
        for i in range(100_000)
    ]
    out = coerce_rows(COLUMNS, rows)
    assert len(out) == 100_000
    assert out[99_999]["seen_at"] == "2024-01-02T03:46:39.000000Z"
    assert out[3]["enabled"] is False
    assert type(out[5]["ratio"]) is float


@pytest.mark.parametrize(
    ("column", "value", "where"),
    [
        ("ratio", float("nan"), ""),
        ("ratio", np.float32("-inf"), ""),
        ("count", float("nan"), ""),
        ("name", float("inf"), ""),
        ("enabled", np.nan, ""),
        ("seen_at", float("nan"), ""),
        ("day", float("nan"), ""),
        ("doc", float("nan"), ""),
        ("doc", {"scores": [1.0, float("nan")]}, " at doc.scores[1]"),
        ("doc", [{"x": {"y": float("-inf")}}], " at doc[0].x.y"),
    ],
)
def test_nan_and_infinity_are_refused_not_stored_as_null(column, value, where) -> None:
    rows = [{column: None}, {column: None}, {column: value}]
    with pytest.raises(CollectorError) as info:
        coerce_rows(COLUMNS, rows)
    assert info.value.permanent is True
    assert info.value.message.startswith(f"column {column!r}, row 2{where}: ")
    assert "is not a finite number" in info.value.message


def test_rows_from_an_iterator_are_coerced_chunk_by_chunk() -> None:
    """A collector may yield its rows: the result equals the list path's, and an error in
    a later chunk names the row's index in the whole population, not in its chunk."""
    from collectors import schema

    rows = [{"name": f"r{i}", "count": str(i), "seen_at": "2024-03-01T10:00:00Z"}
            for i in range(2 * schema.STREAM_CHUNK + 5)]  # fmt: skip
    consumed: list[int] = []

    def generate():
        for index, row in enumerate(rows):
            consumed.append(index)
            yield row

    assert coerce_rows(COLUMNS, generate()) == coerce_rows(COLUMNS, rows)
    assert len(consumed) == len(rows)
    bad = [*rows[:-1], {"count": "many"}]
    with pytest.raises(CollectorError, match=rf"column 'count', row {len(rows) - 1}:"):
        coerce_rows(COLUMNS, iter(bad))
    unknown = [*rows[: schema.STREAM_CHUNK + 2], {"colour": "red"}]
    with pytest.raises(CollectorError, match=rf"in row {schema.STREAM_CHUNK + 2} "):
        coerce_rows(COLUMNS, iter(unknown))
    assert coerce_rows(COLUMNS, iter([])) == []
