"""``hris_people``: BambooHR answers served on 127.0.0.1, and CSV/XLSX exports."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest

from collectors import CollectorError, Status
from collectors.hris._people_file import PeopleFileError, parse_people
from collectors.hris.hris_people import BAMBOO_FIELDS, HrisPeopleCollector
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hris_people"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
API_KEY = "scrubbedBambooApiKey0123456789abcdef0123"
KEY = "hris_people"


def _bamboo(server, **kw):  # type: ignore[no-untyped-def]
    params = {"company_domain": "acme", "api_key": API_KEY, "base_url": server.base_url}
    return run_collector(HrisPeopleCollector, params, now=NOW, **kw)


def test_collector_is_conformant() -> None:
    assert lint_collector(HrisPeopleCollector) == []


def test_bamboohr_report_throttling_and_partial_failure() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = _bamboo(server, sleep=waits.append)
    assert waits == [4.0]  # 503 with Retry-After
    request = server.requests[-1]
    assert (
        request["headers"]["Authorization"]
        == "Basic " + base64.b64encode(f"{API_KEY}:x".encode()).decode()
    )
    assert json.loads(request["body"])["fields"] == list(BAMBOO_FIELDS)
    assert "onlyCurrent=false" in request["path"]
    assert result.identity == "bamboohr:acme"
    rows = {r["employee_id"]: r for r in result.rows}
    assert rows["1001"] == {
        "resource": "hris:bamboohr:acme/employee:1001",
        "employee_id": "1001",
        "name": "Alice Admin",
        "work_email": "alice@acme.example",
        "status": "active",
        "start_date": "2021-03-01",
        "termination_date": None,
        "manager": None,
        "source": "bamboohr:acme",
    }
    assert rows["1003"]["status"] == "active"  # rehired after a 2023 termination
    assert rows["1004"]["status"] == "terminated"
    assert rows["1004"]["termination_date"] == "2024-05-28"
    assert rows["1007"]["status"] == "active"  # leaves at the end of June
    assert rows["1006"]["start_date"] is None
    statuses = {r.split(":")[-1]: s for r, s in result.statuses(f"{KEY}.records_complete").items()}
    assert statuses == {
        "1001": Status.PASS,
        "1002": Status.PASS,
        "1003": Status.PASS,
        "1004": Status.PASS,
        "1005": Status.FAIL,  # inactive, no termination date
        "1006": Status.ERROR,  # hire date unreadable: unknown, not a verdict
        "1007": Status.PASS,
    }
    assert (
        "2020-13-45"
        in result.finding(f"{KEY}.records_complete", "hris:bamboohr:acme/employee:1006").message
    )
    assert result.statuses(f"{KEY}.people_present") == {"*": Status.PASS}


def test_bamboohr_wrong_key_is_permanent_and_not_echoed() -> None:
    route = "POST /api/gateway.php/acme/v1/reports/custom?format=JSON&onlyCurrent=false"
    routes = {route: {"status": 401, "body": ""}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="HTTP 401") as info:
            _bamboo(server)
    assert info.value.permanent and API_KEY not in str(info.value)


def test_file_provider_reads_a_csv_export() -> None:
    params = {"provider": "file", "file_path": str(FIXTURES / "people.csv")}
    result = run_collector(HrisPeopleCollector, params, now=NOW)
    rows = {r["employee_id"]: r for r in result.rows}
    assert set(rows) == {"E-1", "E-2", "E-3"}
    assert rows["E-3"]["status"] == "active" and rows["E-3"]["termination_date"] == "2023-06-30"
    assert rows["E-2"]["resource"] == "hris:file:people.csv/employee:E-2"
    assert result.identity == "file:people.csv"


def test_csv_errors_are_listed_by_line_and_nothing_is_read() -> None:
    text = (
        "Employee ID,Name,Work Email,Status,Start Date,Termination Date\n"
        "1,Ann,ann@acme.example,active,2021-01-01,\n"
        "2,,bob@acme,active,2021-02-30,\n"
        "1,Cy,cy@acme.example,terminated,2021-01-01,\n"
        "\n"
        "4,Di,di@acme.example,retired,2021-01-01,2020-01-01\n"
    )
    with pytest.raises(PeopleFileError) as info:
        parse_people(text.encode(), "people.csv")
    assert info.value.errors == [
        (3, "start_date '2021-02-30' is not a date (YYYY-MM-DD)"),
        (3, "name is empty"),
        (3, "work_email 'bob@acme' is not an e-mail address"),
        (4, "employee_id 1 repeats line 2"),
        (4, "termination_date is empty for a terminated employee"),
        (6, "status 'retired' is not one of active, on_leave, terminated"),
    ]
    assert str(info.value).startswith("line 3: start_date '2021-02-30'")


def test_missing_columns_and_wrong_types_are_refused() -> None:
    with pytest.raises(PeopleFileError, match="line 1: missing column.*termination_date"):
        parse_people(b"employee_id,name,work_email,status,start_date\n", "x.csv")
    with pytest.raises(PeopleFileError, match="upload a .csv or .xlsx file"):
        parse_people(b"a,b", "people.txt")
    with pytest.raises(PeopleFileError, match="not a readable XLSX"):
        parse_people(b"PK\x03\x04 broken", "people.xlsx")
    with pytest.raises(PeopleFileError, match="not UTF-8"):
        parse_people("employee_id\n\xff".encode("latin-1"), "people.csv")


def test_xlsx_with_real_dates() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["employee_id", "name", "work_email", "status", "start_date",
                  "termination_date", "manager"])  # fmt: skip
    sheet.append([7, "Xena", "Xena@Acme.example", "Terminated", date(2020, 1, 2),
                  datetime(2024, 5, 28), "Alice"])  # fmt: skip
    sheet.append([8, "Yul", "yul@acme.example", "on leave", date(2021, 1, 2), None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    people = parse_people(buffer.getvalue(), "people.xlsx")
    assert people == [
        {"employee_id": "7", "name": "Xena", "work_email": "xena@acme.example",
         "status": "terminated", "start_date": "2020-01-02", "termination_date": "2024-05-28",
         "manager": "Alice", "line": 2},
        {"employee_id": "8", "name": "Yul", "work_email": "yul@acme.example",
         "status": "on_leave", "start_date": "2021-01-02", "termination_date": None,
         "manager": None, "line": 3},
    ]  # fmt: skip


def test_a_bad_file_fails_the_run_with_its_line_numbers(tmp_path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(
        "employee_id,name,work_email,status,start_date,termination_date\n1,A,,active,,\n"
    )
    with pytest.raises(CollectorError, match="hr.csv: line 2: work_email is empty") as info:
        run_collector(HrisPeopleCollector, {"provider": "file", "file_path": str(path)})
    assert info.value.permanent
