"""The push collector ``ci_deployments``: validation of pushed rows and its two checks."""

from __future__ import annotations

import pytest

from collectors import CollectorError, Status
from collectors.ci.ci_deployments import CiDeploymentsCollector
from collectors.lint import lint_collector
from collectors.push import PushRejected, push_evaluate
from collectors.testing import run_collector

ROW = {
    "deployment": "acme/shop@production#4242",
    "repository": "acme/shop",
    "environment": "production",
    "commit": "0123456789abcdef0123456789abcdef01234567",
    "change_ref": "https://github.com/acme/shop/pull/7",
    "author": "alice",
    "reviewers": ["bob"],
    "tests_passed": True,
    "deployed_at": "2026-03-01T10:00:00Z",
}


def _statuses(rows, assertion_id):
    _, findings = push_evaluate(CiDeploymentsCollector, rows)
    return {f.resource: f.status for f in findings if f.assertion_id == assertion_id}


def test_collector_is_conformant_and_a_push_collector() -> None:
    assert lint_collector(CiDeploymentsCollector) == []
    assert CiDeploymentsCollector.push is True
    assert CiDeploymentsCollector.docs()["push"] is True


def test_reviewed_by_someone_else_passes_self_review_fails() -> None:
    rows = [
        ROW,
        {**ROW, "deployment": "acme/shop@production#2", "reviewers": ["Alice"]},
        {**ROW, "deployment": "acme/shop@production#3", "reviewers": []},
        {**ROW, "deployment": "acme/shop@production#4", "reviewers": None},
    ]
    assert _statuses(rows, "ci_deployments.independent_review") == {
        "acme/shop@production#4242": Status.PASS,
        "acme/shop@production#2": Status.FAIL,
        "acme/shop@production#3": Status.FAIL,
        "acme/shop@production#4": Status.ERROR,
    }


def test_tests_passed_unknown_is_an_error_not_a_pass() -> None:
    rows = [
        ROW,
        {**ROW, "deployment": "d2", "tests_passed": False},
        {**ROW, "deployment": "d3", "tests_passed": None},
    ]
    assert _statuses(rows, "ci_deployments.tests_passed") == {
        "acme/shop@production#4242": Status.PASS,
        "d2": Status.FAIL,
        "d3": Status.ERROR,
    }


def test_every_problem_is_named() -> None:
    rows = [{**ROW, "tests_passed": "perhaps", "extra": 1}, {"deployment": "x"}, "row"]
    with pytest.raises(PushRejected) as caught:
        push_evaluate(CiDeploymentsCollector, rows)
    named = {(p["row"], p["column"]) for p in caught.value.problems}
    assert named == {
        (0, "tests_passed"), (0, "extra"),
        (1, "repository"), (1, "commit"), (1, "deployed_at"),
        (2, None),
    }  # fmt: skip
    assert caught.value.count == 6


def test_it_is_never_pulled() -> None:
    with pytest.raises(CollectorError, match="push collector"):
        run_collector(CiDeploymentsCollector)
