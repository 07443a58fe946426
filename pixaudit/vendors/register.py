"""The vendor register's assertions: pure logic over plain rows (no database).

:func:`evaluate` judges the register as of a day ``today``:

- ``vendor_register.dpa_signed``: every processor has a signed DPA: a signing date, the
  signed copy on file, and no expiry date in the past.
- ``vendor_register.independent_report_current``: every critical vendor has a current
  independent report (SOC 2 Type II report or ISO 27001 certificate): the report on file, not
  expired, its period ending within the last ``report_max_age_days`` (365) days and not
  before it started.
- ``vendor_register.reviews_current``: every vendor has a next review date, not passed.
- ``vendor_register.incidents_handled``: every incident a vendor notified us of was handled
  on or before our notification deadline; one still open past it fails, one open before it
  warns.

Resources are ``vendor:<name>`` and ``vendor:<name>/incident:<id>``. ``previous`` (the
resources the last register evidence judged, per assertion) lets the caller close verdicts
on resources no longer judged (a vendor removed, no longer a processor or no longer
critical) with one PASS that says why, since appended evidence merges into current state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from collectors.base import Column, Finding, Severity, Status

__all__ = [
    "ASSERTIONS",
    "COLUMNS",
    "CONTROLS",
    "DPA",
    "INCIDENT_COLUMNS",
    "INCIDENTS",
    "REGISTER_KEY",
    "REPORT",
    "REVIEWS",
    "Result",
    "evaluate",
]

REGISTER_KEY = "vendor_register"
DPA = f"{REGISTER_KEY}.dpa_signed"
REPORT = f"{REGISTER_KEY}.independent_report_current"
REVIEWS = f"{REGISTER_KEY}.reviews_current"
INCIDENTS = f"{REGISTER_KEY}.incidents_handled"
ASSERTIONS = (DPA, REPORT, REVIEWS, INCIDENTS)
TITLES = {
    DPA: "Every processor has a signed data processing agreement",
    REPORT: "Every critical vendor has a current independent report",
    REVIEWS: "Vendor reviews are not overdue",
    INCIDENTS: "Incidents notified by vendors are handled within our deadline",
}
CONTROLS: dict[str, tuple[str, ...]] = {
    DPA: ("soc2-2017:CC9.2", "iso27001-2022:A.5.19", "iso27001-2022:A.5.20"),
    REPORT: ("soc2-2017:CC9.2", "iso27001-2022:A.5.19", "iso27001-2022:A.5.21",
             "iso27001-2022:A.5.22"),
    REVIEWS: ("soc2-2017:CC9.2", "iso27001-2022:A.5.19", "iso27001-2022:A.5.22"),
    INCIDENTS: ("soc2-2017:CC9.2", "iso27001-2022:A.5.22"),
}  # fmt: skip
SEVERITY = {DPA: Severity.HIGH, REPORT: Severity.HIGH, REVIEWS: Severity.MEDIUM,
            INCIDENTS: Severity.HIGH}  # fmt: skip
DEFAULT_REPORT_MAX_AGE_DAYS = 365
CRITICAL = "critical"

#: The evidence table: one row per vendor (typed like a collector's columns).
COLUMNS = (
    Column("resource", "string", "How findings name the vendor (vendor:<name>)."),
    Column("name", "string", "The vendor's name."),
    Column("purpose", "string", "What the vendor does for us."),
    Column("data_categories", "json", "Categories of data the vendor processes."),
    Column("criticality", "string", "low, medium, high or critical."),
    Column("processor", "boolean", "Processes personal data on our behalf."),
    Column("subprocessor", "boolean", "A sub-processor of our customers' data."),
    Column("subprocessors", "json", "The vendor's own sub-processors."),
    Column("dpa_signed_on", "date", "When the DPA was signed."),
    Column("dpa_version", "string", "The DPA's version."),
    Column("dpa_expires_on", "date", "When the DPA ends, if it does."),
    Column("dpa_file_sha256", "string", "SHA-256 of the signed DPA on file."),
    Column("report_kind", "string", "soc2_type2 or iso27001 (empty: none)."),
    Column("report_issuer", "string", "Who issued the report or certificate."),
    Column("report_period_start", "date", "Start of the period the report covers."),
    Column("report_period_end", "date", "End of the period the report covers."),
    Column("report_expires_on", "date", "When the report or certificate expires."),
    Column("report_file_sha256", "string", "SHA-256 of the report on file."),
    Column("last_review_on", "date", "Our last review of the vendor."),
    Column("next_review_on", "date", "When the next review is due."),
    Column("incidents", "integer", "Incidents the vendor notified us of."),
)
#: The second table: one row per notified incident.
INCIDENT_COLUMNS = (
    Column("resource", "string", "vendor:<name>/incident:<id>."),
    Column("vendor", "string", "The vendor that notified us."),
    Column("description", "string", "What happened."),
    Column("occurred_on", "date", "When the incident happened."),
    Column("notified_on", "date", "When the vendor notified us."),
    Column("notify_by", "date", "Our own notification deadline."),
    Column("handled_on", "date", "When we handled it (empty: open)."),
)


@dataclass
class Result:
    rows: list[dict[str, Any]]
    incident_rows: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)
    #: Indexes of findings that close an earlier verdict on a resource no longer judged.
    resolved: set[int] = field(default_factory=set)


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _finding(assertion_id: str, resource: str, status: Status, message: str,
             thresholds: Mapping[str, Any]) -> Finding:  # fmt: skip
    return Finding(assertion_id=assertion_id, resource=resource, status=status,
                   severity=SEVERITY[assertion_id], message=message,
                   thresholds=dict(thresholds), controls=CONTROLS[assertion_id])  # fmt: skip


def _dpa(row: Mapping[str, Any], today: date) -> tuple[Status, str]:
    signed, expires = _day(row.get("dpa_signed_on")), _day(row.get("dpa_expires_on"))
    name = row["name"]
    if signed is None:
        return Status.FAIL, f"{name} processes personal data and has no signed DPA."
    if not row.get("dpa_file_sha256"):
        return (
            Status.FAIL,
            f"{name}'s DPA (signed {signed}) is not on file: upload the signed copy.",
        )
    if expires is not None and expires < today:
        return Status.FAIL, f"{name}'s DPA expired on {expires}."
    version = f" version {row['dpa_version']}" if row.get("dpa_version") else ""
    until = f", until {expires}" if expires else ""
    return Status.PASS, f"{name}'s DPA{version} was signed on {signed}{until}, on file."


def _report(row: Mapping[str, Any], today: date, max_age: int) -> tuple[Status, str]:
    name = row["name"]
    kind = {"soc2_type2": "SOC 2 Type II report", "iso27001": "ISO 27001 certificate"}.get(
        row.get("report_kind") or "", ""
    )
    if not kind:
        return Status.FAIL, f"{name} is critical and has no independent report on record."
    if not row.get("report_file_sha256"):
        return Status.FAIL, f"{name}'s {kind} is not on file: upload it."
    start, end = _day(row.get("report_period_start")), _day(row.get("report_period_end"))
    expires = _day(row.get("report_expires_on"))
    if end is None:
        return Status.FAIL, f"{name}'s {kind} has no period end on record."
    if start is not None and end < start:
        return Status.FAIL, f"{name}'s {kind} period ends ({end}) before it starts ({start})."
    if expires is not None and expires < today:
        return Status.FAIL, f"{name}'s {kind} expired on {expires}."
    if end < today - timedelta(days=max_age):
        return Status.FAIL, (f"{name}'s {kind} covers a period ending {end}, more than "
                             f"{max_age} days ago: obtain the current one.")  # fmt: skip
    issuer = f" by {row['report_issuer']}" if row.get("report_issuer") else ""
    return Status.PASS, f"{name}'s {kind}{issuer} covers up to {end}, current."


def _review(row: Mapping[str, Any], today: date) -> tuple[Status, str]:
    name, due = row["name"], _day(row.get("next_review_on"))
    if due is None:
        return Status.FAIL, f"{name} has no next review date."
    if due < today:
        return Status.FAIL, f"{name}'s review was due on {due} and is overdue."
    last = _day(row.get("last_review_on"))
    return Status.PASS, (f"{name}'s next review is due on {due}"
                         + (f" (last reviewed {last})." if last else "."))  # fmt: skip


def _incident(row: Mapping[str, Any], today: date) -> tuple[Status, str]:
    deadline, handled = _day(row["notify_by"]), _day(row.get("handled_on"))
    what = f"{row['vendor']}'s incident notified on {row['notified_on']} ({row['description']})"
    if handled is not None:
        if deadline is not None and handled > deadline:
            return Status.FAIL, f"{what} was handled on {handled}, after our deadline {deadline}."
        return Status.PASS, f"{what} was handled on {handled}, within our deadline {deadline}."
    if deadline is not None and deadline < today:
        return Status.FAIL, f"{what} is still open past our deadline {deadline}."
    return Status.WARN, f"{what} is open; our deadline is {deadline}."


def evaluate(
    *, rows: Iterable[Mapping[str, Any]], incident_rows: Iterable[Mapping[str, Any]],
    today: date, report_max_age_days: int = DEFAULT_REPORT_MAX_AGE_DAYS,
    previous: Mapping[str, set[str]] | None = None,
) -> Result:  # fmt: skip
    """Judge the register (rows shaped like :data:`COLUMNS` and :data:`INCIDENT_COLUMNS`)."""
    result = Result(rows=[dict(r) for r in rows], incident_rows=[dict(r) for r in incident_rows])
    thresholds = {"as_of": today.isoformat(), "report_max_age_days": report_max_age_days}
    judged: dict[str, set[str]] = {a: set() for a in ASSERTIONS}

    def add(assertion_id: str, resource: str, verdict: tuple[Status, str]) -> None:
        judged[assertion_id].add(resource)
        result.findings.append(_finding(assertion_id, resource, *verdict, thresholds))

    for row in result.rows:
        if row.get("processor"):
            add(DPA, row["resource"], _dpa(row, today))
        if row.get("criticality") == CRITICAL:
            add(REPORT, row["resource"], _report(row, today, report_max_age_days))
        add(REVIEWS, row["resource"], _review(row, today))
    for row in result.incident_rows:
        add(INCIDENTS, row["resource"], _incident(row, today))
    reasons = {DPA: "is no longer a processor in the register",
               REPORT: "is no longer a critical vendor in the register",
               REVIEWS: "is no longer in the register",
               INCIDENTS: "is no longer in the register"}  # fmt: skip
    for assertion_id in ASSERTIONS:
        for resource in sorted((previous or {}).get(assertion_id, set()) - judged[assertion_id]):
            result.resolved.add(len(result.findings))
            result.findings.append(_finding(
                assertion_id, resource, Status.PASS,
                f"{resource} {reasons[assertion_id]}: nothing left to judge.", thresholds,
            ))  # fmt: skip
    return result
