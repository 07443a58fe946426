"""Assertions: per-row and per-table evaluation, skips, errors, thresholds; evaluate_assertions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Param,
    ParamError,
    Severity,
    Status,
    assertion,
)
from collectors.evaluate import evaluate_assertions, validate_thresholds


class KeysCollector(Collector):
    """Test collector: access keys and their age."""

    key = "test_keys"
    title = "Test keys"
    columns = (
        Column("arn", "string", "Key ARN."),
        Column("age_days", "integer", "Key age."),
        Column("active", "boolean", "Whether the key is active."),
    )
    resource_column = "arn"
    max_age = timedelta(hours=6)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return the rows given in the params."""
        return list(ctx.params.get("rows") or [])

    @assertion(
        "test_keys.rotated",
        title="Keys are rotated",
        severity=Severity.MEDIUM,
        remediation="Rotate the key.",
        controls=("soc2-2017:CC6.1",),
        params=(Param("max_days", "integer", default=90),),
    )
    def rotated(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Active keys must be younger than max_days."""
        if not row["active"]:
            return None
        if row["age_days"] > params["max_days"]:
            return Outcome(Status.FAIL, f"{row['arn']} is {row['age_days']} days old.")
        return Outcome(Status.PASS, f"{row['arn']} is fresh.")

    @assertion(
        "test_keys.exploding",
        title="Check that raises on one row",
        severity="low",
        remediation="None.",
        controls="iso27001-2022:A.8.24",
    )
    def exploding(row: dict[str, Any], params: dict[str, Any]) -> tuple[Status, str]:
        """Raise for key b to prove one broken row does not abort the others."""
        if row["arn"] == "b":
            raise RuntimeError("boom on b")
        return Status.PASS, "ok."

    @assertion(
        "test_keys.at_most_two",
        title="At most two active keys",
        severity=Severity.LOW,
        remediation="Deactivate keys.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.5"),
        params=(Param("limit", "integer", default=2),),
        per="table",
    )
    def at_most_two(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """One table-level outcome."""
        active = sum(1 for r in rows if r["active"])
        status = Status.PASS if active <= params["limit"] else Status.WARN
        yield Outcome(status, f"{active} active keys.")


ROWS = [
    {"arn": "a", "age_days": 10, "active": True},
    {"arn": "b", "age_days": 200, "active": True},
    {"arn": "c", "age_days": 500, "active": False},
    {"arn": "d", "age_days": 95, "active": True},
]


def test_subclass_gathers_assertions_in_declaration_order() -> None:
    assert [a.id for a in KeysCollector.assertions] == [
        "test_keys.rotated",
        "test_keys.exploding",
        "test_keys.at_most_two",
    ]
    assert KeysCollector.assertions_by_id["test_keys.rotated"].severity is Severity.MEDIUM
    assert KeysCollector.source == "test"
    # a single control string is normalised to a tuple, not split into characters
    assert KeysCollector.assertions_by_id["test_keys.exploding"].controls == (
        "iso27001-2022:A.8.24",
    )


def test_per_row_evaluation_skips_none_and_names_resources() -> None:
    findings = KeysCollector.assertions_by_id["test_keys.rotated"].evaluate(
        ROWS, resource_column="arn"
    )
    assert {f.resource: f.status for f in findings} == {
        "a": Status.PASS,
        "b": Status.FAIL,
        "d": Status.FAIL,
    }
    b = next(f for f in findings if f.resource == "b")
    assert b.severity is Severity.MEDIUM
    assert b.thresholds == {"max_days": 90}
    assert b.controls == ("soc2-2017:CC6.1",)
    assert b.message == "b is 200 days old."


def test_threshold_override_is_applied_and_recorded() -> None:
    findings = KeysCollector.assertions_by_id["test_keys.rotated"].evaluate(
        ROWS, resource_column="arn", thresholds={"max_days": "100"}
    )
    assert {f.resource: f.status for f in findings}["d"] is Status.PASS
    assert all(f.thresholds == {"max_days": 100} for f in findings)


def test_invalid_threshold_raises_param_error() -> None:
    with pytest.raises(ParamError) as info:
        KeysCollector.assertions_by_id["test_keys.rotated"].evaluate(
            ROWS, resource_column="arn", thresholds={"max_days": "soon", "nope": 1}
        )
    assert set(info.value.errors) == {"max_days", "nope"}


def test_exception_in_check_becomes_error_for_that_resource_only() -> None:
    findings = KeysCollector.assertions_by_id["test_keys.exploding"].evaluate(
        ROWS, resource_column="arn"
    )
    statuses = {f.resource: f.status for f in findings}
    assert statuses == {"a": Status.PASS, "b": Status.ERROR, "c": Status.PASS, "d": Status.PASS}
    error = next(f for f in findings if f.resource == "b")
    assert "RuntimeError: boom on b" in error.message
    assert error.severity is Severity.LOW


def test_per_table_outcome_without_resource_is_star() -> None:
    a = KeysCollector.assertions_by_id["test_keys.at_most_two"]
    [finding] = a.evaluate(ROWS, resource_column="arn")
    assert (finding.resource, finding.status, finding.message) == (
        "*",
        Status.WARN,
        "3 active keys.",
    )
    [finding] = a.evaluate(ROWS, resource_column="arn", thresholds={"limit": 3})
    assert finding.status is Status.PASS
    assert finding.thresholds == {"limit": 3}


def test_per_table_exception_becomes_single_error() -> None:
    a = KeysCollector.assertions_by_id["test_keys.at_most_two"]
    [finding] = a.evaluate([{"arn": "x"}], resource_column="arn")  # KeyError on "active"
    assert finding.status is Status.ERROR
    assert finding.resource == "*"
    assert "KeyError" in finding.message


def test_unsupported_return_value_is_an_error_finding() -> None:
    a = assertion(
        "x_y.z", title="t", severity="high", remediation="r", controls=("soc2-2017:CC6.1",)
    )(lambda row, params: "pass")
    [finding] = a.evaluate([{"id": "r1"}], resource_column="id")
    assert finding.status is Status.ERROR
    assert "expected Outcome" in finding.message


def test_missing_resource_value_falls_back_to_row_index() -> None:
    a = assertion(
        "x_y.z", title="t", severity="high", remediation="r", controls=("soc2-2017:CC6.1",)
    )(lambda row, params: (Status.PASS, "ok."))
    findings = a.evaluate([{"id": None}, {"id": 7}], resource_column="id")
    assert [f.resource for f in findings] == ["row 0", "7"]


def test_evaluate_assertions_merges_errors_and_shadows_resource_results() -> None:
    errors = [
        {"message": "AccessDenied on b", "action": "iam:GetAccessKeyLastUsed",
         "resource": "b", "assertions": ("test_keys.rotated",)},
        {"message": "Throttled listing keys", "action": None, "resource": None,
         "assertions": ()},
    ]  # fmt: skip
    findings = evaluate_assertions(KeysCollector, ROWS, errors)
    rotated = [f for f in findings if f.assertion_id == "test_keys.rotated"]
    by_resource: dict[str, list[Any]] = {}
    for f in rotated:
        by_resource.setdefault(f.resource, []).append(f)
    # the FAIL the check computed for b is replaced by the ERROR: it could not be seen
    assert [f.status for f in by_resource["b"]] == [Status.ERROR]
    assert "iam:GetAccessKeyLastUsed" in by_resource["b"][0].message
    # an error naming no assertion applies to all of them, on "*"
    star = [f for f in findings if f.resource == "*" and f.status is Status.ERROR]
    assert sorted(f.assertion_id for f in star) == sorted(KeysCollector.assertions_by_id)
    assert all(f.message == "Throttled listing keys" for f in star)


def test_evaluate_assertions_thresholds_per_assertion() -> None:
    findings = evaluate_assertions(
        KeysCollector, ROWS, [], thresholds={"test_keys.rotated": {"max_days": 250}}
    )
    rotated = {f.resource: f.status for f in findings if f.assertion_id == "test_keys.rotated"}
    assert rotated == {"a": Status.PASS, "b": Status.PASS, "d": Status.PASS}


def test_validate_thresholds_reports_all_problems() -> None:
    with pytest.raises(ParamError) as info:
        validate_thresholds(
            KeysCollector,
            {"test_keys.unknown": {}, "test_keys.rotated": {"max_days": "x"}},
        )
    assert set(info.value.errors) == {"test_keys.unknown", "test_keys.rotated.max_days"}
    complete = validate_thresholds(KeysCollector, None)
    assert complete["test_keys.at_most_two"] == {"limit": 2}
    assert complete["test_keys.exploding"] == {}


def test_docs_describe_everything() -> None:
    docs = KeysCollector.docs()
    assert docs["key"] == "test_keys"
    assert docs["source"] == "test"
    assert docs["max_age_seconds"] == 6 * 3600
    assert docs["columns"][0] == {"name": "arn", "dtype": "string", "description": "Key ARN."}
    assert docs["controls"] == ["iso27001-2022:A.8.24", "iso27001-2022:A.8.5", "soc2-2017:CC6.1"]
    rotated = docs["assertions"][0]
    assert rotated["params"][0]["default"] == 90
    assert rotated["description"] == "Active keys must be younger than max_days."
    assert docs["description"].startswith("Test collector")
