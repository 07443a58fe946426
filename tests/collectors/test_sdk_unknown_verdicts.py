"""evaluate_assertions: an account-level "none found" is never claimed about unread data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors import CollectionContext, Collector, Column, Outcome, Severity, Status, assertion
from collectors.evaluate import evaluate_assertions


class Plans(Collector):
    """At least one complete plan must exist (an existence claim on ``*``)."""

    key = "testsrc_plans"
    title = "Plans"
    columns = (Column("name", "string", "Plan."), Column("complete", "boolean", "Complete."))
    resource_column = "name"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Nothing."""
        return []

    @assertion(
        "testsrc_plans.exists",
        title="A complete plan exists",
        severity=Severity.HIGH,
        remediation="Make one.",
        controls=("soc2-2017:A1.2", "iso27001-2022:A.8.13"),
        per="table",
    )
    def exists(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """PASS with a complete plan, else FAIL (WARN when there are no plans at all)."""
        if any(r["complete"] for r in rows):
            yield Outcome(Status.PASS, "found", "*")
        elif rows:
            yield Outcome(Status.FAIL, "none complete", "*")
        else:
            yield Outcome(Status.WARN, "no plans", "*")


REGION_UNREAD = {"message": "AccessDenied in eu-west-1", "action": "x:List", "resource": None,
                 "assertions": ("testsrc_plans.exists",)}  # fmt: skip


def _star(rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> list[Status]:
    return sorted(f.status for f in evaluate_assertions(Plans, rows, errors) if f.resource == "*")


def test_fail_or_warn_on_star_gives_way_to_an_unread_part_of_the_account() -> None:
    assert _star([{"name": "a", "complete": False}], [REGION_UNREAD]) == [Status.ERROR]
    assert _star([], [REGION_UNREAD]) == [Status.ERROR]


def test_a_witness_still_passes_beside_the_error() -> None:
    statuses = _star([{"name": "a", "complete": True}], [REGION_UNREAD])
    assert statuses == sorted([Status.PASS, Status.ERROR])


def test_without_errors_the_verdict_is_the_checks() -> None:
    assert _star([{"name": "a", "complete": False}], []) == [Status.FAIL]
    other = {**REGION_UNREAD, "resource": "a"}  # a resource-level error does not touch "*"
    assert _star([{"name": "a", "complete": False}], [other]) == [Status.FAIL]
