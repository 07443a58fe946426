"""The register's exports read the exceptions in chunks, never one query per row, and the
CSV leaves as it is written (issue 14: 22,000 exceptions took ~15 s as one list)."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from pixaudit.accounts.models import Role
from pixaudit.exceptions import exports, selectors
from pixaudit.exceptions.selectors import exception_list, exception_rows, exception_rows_stream
from tests.exceptions.helpers import History
from tests.security.helpers import client_for, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def seven(soc2):
    """Seven exceptions (seven resources failing on day 2, fixed on day 3)."""
    history = History()
    names = [f"r{i}" for i in range(7)]
    history.day(1, dict.fromkeys(names, "pass"))
    history.day(2, dict.fromkeys(names, "fail"))
    history.day(3, dict.fromkeys(names, "pass"))
    history.day(4, {"r0": "fail", "r1": "fail"})  # two more, open, same opening instant
    return history


def _queries(fn) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result


def test_stream_yields_the_list_in_order_with_a_query_per_chunk(seven):
    listed = exception_rows(exception_list())
    assert len(listed) == 9
    for chunk_size in (2, 3, 9, 50):
        n, streamed = _queries(
            lambda size=chunk_size: list(exception_rows_stream(exception_list(), chunk_size=size))
        )
        assert [r.pk for r in streamed] == [r.pk for r in listed], chunk_size
        assert [(r.status, r.control_addresses) for r in streamed] == [
            (r.status, r.control_addresses) for r in listed
        ]
        # fixed reads (mappings, controls, owners, acceptances; an empty list reads no chunk)
        # + one per chunk (the last
        # chunk is short, or an empty one ends the read when the rows divide evenly)
        chunks = len(listed) // chunk_size + 1
        fixed = _queries(lambda: list(exception_rows_stream(exception_list().none())))[0]
        assert n == fixed + chunks, chunk_size


def test_csv_export_streams_and_reads_in_chunks(seven, monkeypatch):
    monkeypatch.setattr(selectors, "STREAM_CHUNK", 2)
    monkeypatch.setattr(exports, "CSV_CHUNK_CHARS", 1)
    client = client_for(user_make(Role.ENGINEER), verified=False)
    url = reverse("exceptions:export", args=["csv"])
    response = client.get(url)
    assert isinstance(response, StreamingHttpResponse)
    n, chunks = _queries(lambda: list(response.streaming_content))
    # nine exceptions, two per query: five chunk reads after the fixed ones, none per row
    fixed = _queries(lambda: list(exception_rows_stream(exception_list().none())))[0]
    assert n == fixed + 5
    assert len(chunks) == 9  # one piece per row (the header rides with the first)
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert sorted(r["resource"] for r in rows) == sorted([f"r{i}" for i in range(7)] + ["r0", "r1"])
    assert sum(1 for r in rows if r["status"] == "open") == 2


def test_xlsx_export_has_every_row_and_its_header(seven):
    client = client_for(user_make(Role.ENGINEER), verified=False)
    response = client.get(reverse("exceptions:export", args=["xlsx"]))
    sheet = load_workbook(io.BytesIO(response.content))["exceptions"]
    assert sheet.max_row == 10 and sheet["A1"].font.b
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.endswith("10")
