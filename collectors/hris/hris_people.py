"""People of the HR system: employee id, work e-mail, status, start and termination dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors._http import check_response
from collectors.hris._people_file import PeopleFileError, normalise_status, parse_people

_KEY = "hris_people"
_COMPLETE = f"{_KEY}.records_complete"
#: Fields of the BambooHR custom report (field names from BambooHR's field list).
BAMBOO_FIELDS = (
    "employeeNumber",
    "displayName",
    "firstName",
    "lastName",
    "workEmail",
    "status",
    "hireDate",
    "terminationDate",
    "supervisor",
)


@register
class HrisPeopleCollector(Collector):
    """People of the HR system, the source of truth for start and termination dates.

    ``provider=bamboohr``: BambooHR's API with an API key (HTTP Basic, the key as user name):
    ``POST /api/gateway.php/{company}/v1/reports/custom?format=JSON&onlyCurrent=false``
    asking for the fields employee number, names, work e-mail, status, hire date,
    termination date and supervisor. The custom report answers everyone, current and past,
    in one response (BambooHR does not page it). Throttling (503 or 429 with
    ``Retry-After``) is retried within the time budget. An employee whose dates cannot be
    read gets an ERROR for ``hris_people.records_complete``; the others are collected.
    BambooHR's empty date ``0000-00-00`` is no date.

    ``provider=file``: a CSV or XLSX export of any HR system at ``file_path`` (columns
    ``employee_id``, ``name``, ``work_email``, ``status``, ``start_date``,
    ``termination_date``, optional ``manager``), validated as a whole: any bad line fails the
    run with every problem listed by line number. Managers upload the same files on the
    connection's page.

    Findings name people ``hris:<source>/employee:<id>`` (``bamboohr:<company>`` or
    ``file:<name>``). A person whose termination date is before their start date was
    rehired: they are a current employee.

    Example row: employee 1004, Dan Leaver, ``dan@acme.example``, terminated, started
    2019-05-06, left 2024-05-28.
    """

    key = _KEY
    title = "HR system people, start and termination dates"
    version = 1
    params = (
        Param("provider", "string", default="bamboohr", choices=("bamboohr", "file"),
              help="bamboohr (API) or file (a CSV/XLSX export)."),
        Param("company_domain", "string", destination=True,
              help="BambooHR company subdomain (acme for acme.bamboohr.com)."),
        Param("api_key", "string", secret=True,
              help="BambooHR API key of a user who can read the people's job information."),
        Param("base_url", "string", default="https://api.bamboohr.com",
              help="BambooHR API root.", destination=True),
        Param("file_path", "string",
              help="provider=file: path of the CSV/XLSX export, readable by the workers."),
        Param("ca_bundle", "string", help="PEM file of a private CA to trust (proxies, tests).",
              destination=True),
    )  # fmt: skip
    permissions = ("bamboohr:reports/custom (employee job information, read)",)
    columns = (
        Column("resource", "string", "hris:<source>/employee:<id>, unique across sources."),
        Column("employee_id", "string", "Employee id (number) at the HR system."),
        Column("name", "string", "Full name."),
        Column("work_email", "string", "Work e-mail, lower case (null: none)."),
        Column("status", "string", "active, on_leave, terminated (unknown: unreadable)."),
        Column("start_date", "date", "Start (latest hire) date (null: unknown)."),
        Column("termination_date", "date", "Termination date (null: none)."),
        Column("manager", "string", "Manager as the HR system names them."),
        Column("source", "string", "bamboohr:<company> or file:<name>."),
    )
    resource_column = "resource"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per person, sorted by employee id."""
        if ctx.params["provider"] == "file":
            rows = self._from_file(ctx)
        else:
            rows = self._from_bamboohr(ctx)
        ctx.progress(len(rows), len(rows), "people")
        return sorted(rows, key=lambda r: (r["source"], r["employee_id"]))

    @staticmethod
    def _from_file(ctx: CollectionContext) -> list[dict[str, Any]]:
        path = ctx.params.get("file_path")
        if not path:
            raise CollectorError("provider=file needs file_path", permanent=True)
        try:
            data = Path(str(path)).read_bytes()
        except OSError as exc:
            raise CollectorError(f"cannot read {path}: {exc.strerror}", permanent=True) from None
        ctx.identity = f"file:{Path(str(path)).name}"
        ctx.record_call("file:read")
        try:
            people = parse_people(data, str(path))
        except PeopleFileError as exc:
            raise CollectorError(f"{Path(str(path)).name}: {exc}", permanent=True) from None
        return people_rows(people, f"file:{Path(str(path)).name}")

    @staticmethod
    def _from_bamboohr(ctx: CollectionContext) -> list[dict[str, Any]]:
        company = ctx.params.get("company_domain")
        key = ctx.params.get("api_key")
        if not company or not key:
            raise CollectorError("provider=bamboohr needs company_domain and api_key",
                                 permanent=True)  # fmt: skip
        base = str(ctx.params["base_url"]).rstrip("/")
        url = f"{base}/api/gateway.php/{quote(str(company), safe='')}/v1/reports/custom"
        ctx.identity = f"bamboohr:{company}"
        ctx.record_call("bamboohr:reports/custom")
        response = ctx.http.post(
            url,
            params={"format": "JSON", "onlyCurrent": "false"},
            json={"title": "pixaudit people", "fields": list(BAMBOO_FIELDS)},
            auth=(str(key), "x"),
            headers={"Accept": "application/json"},
        )
        check_response(response)
        try:
            body = response.json()
        except ValueError:
            raise CollectorError("BambooHR answered something that is not JSON",
                                 permanent=False) from None  # fmt: skip
        if not isinstance(body, dict) or not isinstance(body.get("employees"), list):
            raise CollectorError("BambooHR's report has no employees list", permanent=False)
        source = f"bamboohr:{company}"
        rows = []
        for employee in body["employees"]:
            rows.append(_bamboo_row(ctx, employee, source))
        return rows

    @assertion(
        _COMPLETE,
        title="HR records carry what the leaver and joiner tests need",
        severity=Severity.MEDIUM,
        remediation="Record a work e-mail for every current employee, a start date for "
        "everyone and a termination date for everyone who left, in the HR system.",
        controls=("soc2-2017:CC6.2", "iso27001-2022:A.5.16", "iso27001-2022:A.6.5"),
        rationale="Joiner and leaver checks (CC6.2; identity life cycle A.5.16; "
        "responsibilities after termination A.6.5) compare accounts with start and "
        "termination dates; a person without them cannot be tested.",
    )
    def records_complete(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """Every person: start date; current: work e-mail; terminated: termination date."""
        missing = []
        if not row["start_date"]:
            missing.append("start date")
        if row["status"] in ("active", "on_leave") and not row["work_email"]:
            missing.append("work e-mail")
        if row["status"] == "terminated" and not row["termination_date"]:
            missing.append("termination date")
        if row["status"] not in ("active", "on_leave", "terminated"):
            missing.append("known status")
        who = f"{row['name']} ({row['employee_id']})"
        if missing:
            return Outcome(Status.FAIL, f"{who} has no {', '.join(missing)}.")
        return Outcome(Status.PASS, f"{who}: the record is complete.")

    @assertion(
        f"{_KEY}.people_present",
        title="The HR system lists people",
        severity=Severity.HIGH,
        remediation="Check the API key's access to job information, or the export's contents.",
        controls=("soc2-2017:CC6.2", "iso27001-2022:A.5.16"),
        rationale="An empty population would make every account look orphaned and no leaver "
        "testable (CC6.2, A.5.16).",
        per="table",
    )
    def people_present(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """One verdict: at least one current employee."""
        current = sum(1 for r in rows if r["status"] in ("active", "on_leave"))
        if current:
            yield Outcome(Status.PASS, f"{len(rows)} people, {current} current.")
        else:
            yield Outcome(Status.FAIL, f"{len(rows)} people and no current employee.")


def people_rows(people: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Rows of the collector's columns from validated people (``_people_file``)."""
    return [
        {
            "resource": f"hris:{source}/employee:{p['employee_id']}",
            "employee_id": p["employee_id"],
            "name": p["name"],
            "work_email": p["work_email"],
            "status": p["status"],
            "start_date": p["start_date"],
            "termination_date": p["termination_date"],
            "manager": p["manager"],
            "source": source,
        }
        for p in people
    ]


def _bamboo_date(ctx: CollectionContext, value: Any, what: str, resource: str) -> str | None:
    text = str(value or "").strip()
    if not text or text == "0000-00-00":
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        ctx.error(f"{what} {text!r} of {resource} is not a date", action="bamboohr:reports/custom",
                  resource=resource, assertions=(_COMPLETE,))  # fmt: skip
        return None


def _bamboo_row(ctx: CollectionContext, employee: dict[str, Any], source: str) -> dict[str, Any]:
    number = str(employee.get("employeeNumber") or employee.get("id") or "").strip()
    resource = f"hris:{source}/employee:{number}"
    start = _bamboo_date(ctx, employee.get("hireDate"), "hire date", resource)
    end = _bamboo_date(ctx, employee.get("terminationDate"), "termination date", resource)
    status = normalise_status(employee.get("status"))
    if end and (not start or end >= start) and end <= ctx.now().date().isoformat():
        status = "terminated"  # BambooHR's "status" is the user account's, dates are the job's
    elif status is None:
        status = "unknown"
    name = employee.get("displayName") or " ".join(
        str(p) for p in (employee.get("firstName"), employee.get("lastName")) if p
    )
    email = str(employee.get("workEmail") or "").strip().lower() or None
    return {
        "resource": resource,
        "employee_id": number,
        "name": str(name or number),
        "work_email": email,
        "status": status,
        "start_date": start,
        "termination_date": end,
        "manager": employee.get("supervisor") or None,
        "source": source,
    }
