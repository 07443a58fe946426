"""The push collector ``restore_tests``: restore succeeded and verified, within the RTO."""

from __future__ import annotations

import pytest

from collectors import Status
from collectors.lint import lint_collector
from collectors.push import PushRejected, push_evaluate
from collectors.restore.restore_tests import RestoreTestsCollector

ROW = {
    "system": "arn:aws:rds:eu-west-1:123456789012:db:orders",
    "backup": "snapshot 2026-03-01",
    "started_at": "2026-03-02T09:00:00Z",
    "finished_at": "2026-03-02T09:42:00Z",
    "succeeded": True,
    "data_verified": True,
    "rto_minutes": 240,
}


def _statuses(rows, assertion_id, thresholds=None):
    _, findings = push_evaluate(RestoreTestsCollector, rows, thresholds=thresholds)
    return {f.resource: f.status for f in findings if f.assertion_id == assertion_id}


def test_collector_is_conformant() -> None:
    assert lint_collector(RestoreTestsCollector) == []
    controls = set(RestoreTestsCollector.controls())
    assert {"soc2-2017:A1.3", "iso27001-2022:A.8.13"} <= controls


def test_restore_must_succeed_and_be_verified() -> None:
    rows = [
        ROW,
        {**ROW, "system": "b", "data_verified": False},
        {**ROW, "system": "c", "succeeded": False},
        {**ROW, "system": "d", "data_verified": None},
    ]
    assert _statuses(rows, "restore_tests.restore_succeeded") == {
        ROW["system"]: Status.PASS, "b": Status.FAIL, "c": Status.FAIL, "d": Status.ERROR,
    }  # fmt: skip


def test_rto_from_the_row_the_times_or_the_threshold() -> None:
    rows = [
        ROW,  # 42 minutes from the times, RTO 240
        {**ROW, "system": "slow", "restore_minutes": 300},
        {**ROW, "system": "default", "rto_minutes": None, "restore_minutes": 100},
        {**ROW, "system": "unknown", "started_at": None, "restore_minutes": None},
    ]
    assert _statuses(rows, "restore_tests.within_rto") == {
        ROW["system"]: Status.PASS, "slow": Status.FAIL, "default": Status.PASS,
        "unknown": Status.ERROR,
    }  # fmt: skip
    tight = {"restore_tests.within_rto": {"default_rto_minutes": 60}}
    assert _statuses(rows, "restore_tests.within_rto", tight)["default"] is Status.FAIL


def test_nan_and_wrong_types_are_refused() -> None:
    with pytest.raises(PushRejected) as caught:
        push_evaluate(RestoreTestsCollector, [{**ROW, "restore_minutes": float("nan")}])
    assert caught.value.problems[0]["column"] == "restore_minutes"
    with pytest.raises(PushRejected, match="1 problem"):
        push_evaluate(RestoreTestsCollector, {"not": "a list"})
