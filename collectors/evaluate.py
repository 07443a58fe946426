"""Turn a collection's rows and recorded errors into findings (shared by tests and the runner).

The Django runner and :mod:`collectors.testing` both call :func:`evaluate_assertions`, so a
plugin's tests see exactly what production computes.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from collectors.base import Collector, Finding, ParamError, Severity, Status

__all__ = [
    "evaluate_assertions",
    "finding_from_record",
    "finding_record",
    "iter_findings",
    "unknown_assertion_message",
    "validate_thresholds",
]

logger = logging.getLogger(__name__)


def validate_thresholds(
    cls: type[Collector], thresholds: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Validate per-assertion threshold overrides ``{assertion_id: {param: value}}``.

    Returns the complete thresholds of every assertion (defaults filled). Raises
    :class:`ParamError` whose keys are ``"<assertion_id>"`` (unknown assertion, or a value
    that is not an object) or ``"<assertion_id>.<param>"``, with every problem at once.
    Messages about an unknown key name the valid ones, so a typo is easy to fix.
    """
    thresholds = thresholds or {}
    errors: dict[str, str] = {}
    for assertion_id, values in thresholds.items():
        if assertion_id not in cls.assertions_by_id:
            errors[str(assertion_id)] = unknown_assertion_message(cls, str(assertion_id))
        elif not isinstance(values, Mapping):
            errors[assertion_id] = (
                f'Give the thresholds of {assertion_id} as an object {{"<name>": value}}.'
            )
    result: dict[str, dict[str, Any]] = {}
    for a in cls.assertions:
        given = thresholds.get(a.id)
        if not isinstance(given, Mapping):
            given = None  # reported above
        known = [p.name for p in a.params]
        for name in given or {}:
            if name not in known:
                valid = ", ".join(known) if known else "none: it takes no thresholds"
                errors[f"{a.id}.{name}"] = f"Unknown threshold {name!r} of {a.id} (valid: {valid})."
        try:
            result[a.id] = a.validate_thresholds(
                {k: v for k, v in (given or {}).items() if k in known}
            )
        except ParamError as exc:
            errors.update({f"{a.id}.{name}": msg for name, msg in exc.errors.items()})
    if errors:
        raise ParamError(errors)
    return result


def unknown_assertion_message(cls: type[Collector], assertion_id: str) -> str:
    """ "Unknown assertion ... (valid: ...)", suggesting the closest id when there is one."""
    valid = sorted(cls.assertions_by_id)
    close = difflib.get_close_matches(assertion_id, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(valid) if valid else "none: it declares no assertions"
    return f"Unknown assertion {assertion_id!r} of {cls.key} (valid: {listed}).{hint}"


def evaluate_assertions(
    cls: type[Collector],
    rows: Sequence[Mapping[str, Any]],
    errors: Sequence[Mapping[str, Any]],
    *,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Evaluate every assertion of ``cls`` over ``rows`` and merge the recorded ``errors``.

    ``errors`` are ``ctx.errors`` entries (``message``, ``action``, ``resource``,
    ``assertions``). Each becomes one ERROR finding per named assertion (all assertions when
    none or only unknown ones are named) for its resource, or ``"*"``. An ERROR for a specific
    resource replaces the check's finding for that assertion and resource: a check cannot
    pass on data the collector could not see. An ERROR on ``"*"`` (part of the population
    was not seen: a region, a page) replaces the check's FAIL or WARN on ``"*"`` for that
    assertion: an account-level "none found" cannot be claimed about data that was not
    read, while a PASS on ``"*"`` (a witness was seen) stands next to the ERROR. Invalid
    ``thresholds`` raise :class:`ParamError` before anything is evaluated.
    """
    return list(iter_findings(cls, rows, errors, thresholds=thresholds))


def iter_findings(
    cls: type[Collector],
    rows: Sequence[Mapping[str, Any]],
    errors: Sequence[Mapping[str, Any]],
    *,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[Finding]:
    """:func:`evaluate_assertions` as a generator, in the same order (assertions in
    declaration order, rows in order, then the errors' findings).

    The runner passes the rows as a :class:`collectors.spool.RecordFile` and writes each
    finding to disk as it comes, so neither the rows nor the findings of a large population
    are all in memory. Thresholds are validated before the first finding.
    """
    resolved = validate_thresholds(cls, thresholds)
    error_findings = _error_findings(cls, errors, resolved)
    shadowed = {(f.assertion_id, f.resource) for f in error_findings if f.resource != "*"}
    unseen = {f.assertion_id for f in error_findings if f.resource == "*"}
    for a in cls.assertions:
        for finding in a.iter_evaluate(
            rows, resource_column=cls.resource_column, thresholds=resolved[a.id]
        ):
            if (finding.assertion_id, finding.resource) in shadowed:
                continue
            if (
                finding.resource == "*"
                and finding.assertion_id in unseen
                and finding.status in (Status.FAIL, Status.WARN)
            ):
                continue
            yield finding
    yield from error_findings


def _error_findings(
    cls: type[Collector],
    errors: Sequence[Mapping[str, Any]],
    resolved: Mapping[str, Mapping[str, Any]],
) -> list[Finding]:
    """One ERROR finding per recorded error and assertion it concerns."""
    error_findings: list[Finding] = []
    for error in errors:
        named = [i for i in error.get("assertions") or () if i in cls.assertions_by_id]
        unknown = [i for i in error.get("assertions") or () if i not in cls.assertions_by_id]
        if unknown:
            logger.warning("%s recorded an error for unknown assertions %s", cls.key, unknown)
        targets = named or [a.id for a in cls.assertions]
        resource = error.get("resource")
        message = str(error.get("message") or "collection error")
        action = error.get("action")
        if action and action not in message:
            message = f"{message} ({action})"
        for assertion_id in targets:
            a = cls.assertions_by_id[assertion_id]
            error_findings.append(
                Finding(
                    assertion_id=a.id,
                    resource="*" if resource is None else str(resource),
                    status=Status.ERROR,
                    severity=a.severity,
                    message=message,
                    thresholds=dict(resolved[a.id]),
                    controls=a.controls,
                )
            )
    return error_findings


def finding_record(finding: Finding) -> bytes:
    """One finding as one line of JSON (for :class:`collectors.spool.RecordFile`)."""
    return json.dumps(
        finding.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def finding_from_record(record: bytes) -> Finding:
    """The finding :func:`finding_record` wrote."""
    value = json.loads(record)
    return Finding(
        assertion_id=value["assertion_id"],
        resource=value["resource"],
        status=Status(value["status"]),
        severity=Severity(value["severity"]),
        message=value["message"],
        thresholds=value["thresholds"],
        controls=tuple(value["controls"]),
    )
