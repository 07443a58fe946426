"""Remediation deadlines by severity, shared by the vulnerability collectors.

One rule for every scanner (``aws_inspector_findings``, ``github_dependabot_alerts``): an
open finding of severity *S* first seen at *T* is due at *T* + the deadline of *S* in days,
and it is **overdue** once the collection's time (``as_of``) is after that instant.
Informational and untriaged findings have no deadline and are not judged.

The deadlines are the exceptions register's: by default the same environment variables
with the same defaults as ``PIXAUDIT_EXCEPTION_DEADLINE_DAYS`` in ``pixaudit.settings``
(:data:`DEADLINE_ENV`, :data:`DEFAULT_DEADLINE_DAYS`: critical 7, high 30, medium 90, low
180 days). An assertion's thresholds (``critical_days`` ... ``low_days``) override them per
connection; the verdict records the days it used in its message and thresholds.

How the verdict reaches the register: each finding carries the vulnerability's own
severity (``Outcome.severity``), and a FAIL means "past its remediation deadline". The
assertions listed in :data:`DEADLINE_JUDGED_ASSERTIONS` are therefore read by the
register as already past their deadline from the moment the exception opens (its
``deadline_at`` is its ``opened_at``), so the register never grants a second deadline on
top of the scanner's: "past deadline" in the register and FAIL here are the same fact.

This module imports nothing from Django or pixaudit (the SDK's rule).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.base import Outcome, Param, Severity, Status

__all__ = [
    "DEADLINE_ENV",
    "DEADLINE_JUDGED_ASSERTIONS",
    "DEADLINE_PARAMS",
    "DEFAULT_DEADLINE_DAYS",
    "JUDGED_SEVERITIES",
    "VULNERABILITY_CONTROLS",
    "VULNERABILITY_RATIONALE",
    "deadline_days",
    "due_at",
    "judge",
    "normalise_severity",
    "parse_time",
    "register_deadline_days",
]

#: Severities with a remediation deadline, worst first.
JUDGED_SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
#: The exceptions register's defaults (``PIXAUDIT_EXCEPTION_DEADLINE_DAYS``), in days.
DEFAULT_DEADLINE_DAYS: dict[str, int] = {"critical": 7, "high": 30, "medium": 90, "low": 180}
#: The environment variables the register's setting is read from, per severity.
DEADLINE_ENV: dict[str, str] = {
    severity: f"PIXAUDIT_EXCEPTION_DAYS_{severity.upper()}" for severity in JUDGED_SEVERITIES
}
#: Assertions whose FAIL already means "open past its remediation deadline by severity".
DEADLINE_JUDGED_ASSERTIONS: frozenset[str] = frozenset(
    {
        "aws_inspector_findings.remediated_within_deadline",
        "github_dependabot_alerts.remediated_within_deadline",
    }
)

VULNERABILITY_CONTROLS: tuple[str, ...] = (
    "soc2-2017:CC7.1",
    "iso27001-2022:A.8.8",
    "iso27001-2022:A.8.7",
    "iso27001-2022:A.8.19",
)
VULNERABILITY_RATIONALE = (
    "Detecting vulnerabilities and fixing them within a deadline set by severity is the "
    "monitoring for newly discovered vulnerabilities that CC7.1 requires and the management "
    "of technical vulnerabilities of A.8.8; patched hosts, images and dependencies are "
    "protection against malware (A.8.7) and controlled software on operational systems "
    "(A.8.19)."
)

#: Scanner spellings -> our severities (None: no deadline).
_SEVERITY_NAMES: dict[str, str | None] = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "moderate": "medium",  # GitHub's advisory database (GraphQL) says moderate
    "low": "low",
    "informational": None,
    "info": None,
    "untriaged": None,
    "unknown": None,
}

DEADLINE_PARAMS: tuple[Param, ...] = tuple(
    Param(
        f"{severity}_days",
        "integer",
        help=f"Days to remediate a {severity} finding, counted from when it was first seen "
        f"(default: the exceptions register's deadline, {DEADLINE_ENV[severity]}, "
        f"{DEFAULT_DEADLINE_DAYS[severity]}).",
    )
    for severity in JUDGED_SEVERITIES
)


def normalise_severity(value: Any) -> str | None:
    """``"CRITICAL"`` / ``"moderate"`` ... -> ``"critical"`` / ``"medium"``; None when the
    scanner's level has no deadline (informational, untriaged) or is unknown."""
    if value is None:
        return None
    return _SEVERITY_NAMES.get(str(value).strip().lower())


def register_deadline_days(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """The exceptions register's deadlines as configured in the environment.

    Reads :data:`DEADLINE_ENV` like ``pixaudit.settings`` does (a whole number of at least
    1, else :data:`DEFAULT_DEADLINE_DAYS`); a bad value is a ``ValueError`` naming the
    variable, as the settings refuse it at start-up.
    """
    environ = os.environ if environ is None else environ
    days: dict[str, int] = {}
    for severity, name in DEADLINE_ENV.items():
        raw = (environ.get(name) or "").strip()
        if not raw:
            days[severity] = DEFAULT_DEADLINE_DAYS[severity]
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number of days, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
        days[severity] = value
    return days


def deadline_days(
    params: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, int]:
    """severity -> days in force: the assertion's thresholds, else the register's."""
    days = register_deadline_days(environ)
    for severity in JUDGED_SEVERITIES:
        value = params.get(f"{severity}_days")
        if value is not None:
            if int(value) < 1:
                raise ValueError(f"{severity}_days must be at least 1, got {value}")
            days[severity] = int(value)
    return days


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO 8601 string (``...Z``); None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def due_at(first_seen: datetime, severity: str, days: Mapping[str, int]) -> datetime | None:
    """When a finding of ``severity`` first seen at ``first_seen`` must be remediated."""
    if severity not in days:
        return None
    return first_seen + timedelta(days=days[severity])


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def judge(
    *,
    what: str,
    severity: Any,
    first_seen: Any,
    as_of: Any,
    params: Mapping[str, Any],
) -> Outcome | None:
    """The deadline verdict on one open finding, with the finding's own severity.

    PASS while ``as_of`` is at or before the due time, FAIL after it; ERROR when the first
    seen time is missing; ``None`` (not judged) for severities without a deadline. ``what``
    names the finding in the message (``"CVE-2026-1234 in openssl on i-0abc"``).
    """
    level = normalise_severity(severity)
    if level is None:
        return None
    seen = parse_time(first_seen)
    now = parse_time(as_of)
    if seen is None or now is None:
        return Outcome(
            Status.ERROR,
            f"{what} ({level}): when it was first seen is unknown, so its deadline cannot be "
            "judged.",
            severity=Severity(level),
        )
    days = deadline_days(params)
    due = due_at(seen, level, days)
    assert due is not None  # every judged severity has days
    if now > due:
        late = now - due
        return Outcome(
            Status.FAIL,
            f"{what} ({level}) open since {_when(seen)} is past its remediation deadline of "
            f"{days[level]} days ({_when(due)}) by {_duration(late)}.",
            severity=Severity(level),
        )
    left = due - now
    return Outcome(
        Status.PASS,
        f"{what} ({level}) open since {_when(seen)} is within its remediation deadline of "
        f"{days[level]} days (due {_when(due)}, {_duration(left)} left).",
        severity=Severity(level),
    )


def judge_open(
    rows: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    what: Callable[[dict[str, Any]], str],
    first_seen: str,
    resource: str,
    nothing: str,
) -> Iterator[Outcome]:
    """The deadline check of a whole population of open findings, one :func:`judge` per row.

    Each row needs ``severity`` and ``as_of``; ``first_seen`` and ``resource`` name its
    first-seen and resource columns, ``what(row)`` says what the finding is. Each outcome
    carries the finding's own severity. With no row under a deadline: one PASS on ``"*"``
    saying ``nothing``.
    """
    judged = 0
    for row in rows:
        outcome = judge(what=what(row), severity=row["severity"], first_seen=row[first_seen],
                        as_of=row["as_of"], params=params)  # fmt: skip
        if outcome is not None:
            judged += 1
            yield Outcome(outcome.status, outcome.message, row[resource], outcome.severity)
    if not judged:
        yield Outcome(Status.PASS, nothing, "*")


def _duration(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        days = delta.days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(delta.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return "less than an hour"
