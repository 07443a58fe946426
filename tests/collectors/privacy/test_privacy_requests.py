"""The register-backed collector ``privacy_requests``: completed on time, none overdue."""

from __future__ import annotations

import pytest

from collectors import CollectorError, Status
from collectors.evaluate import evaluate_assertions
from collectors.lint import lint_collector
from collectors.privacy.privacy_requests import PrivacyRequestsCollector
from collectors.schema import coerce_rows
from collectors.testing import run_collector

ON_TIME = {"reference": "DSR-1", "kind": "erasure", "received_on": "2026-03-02",
           "due_on": "2026-04-01", "completed_on": "2026-03-20", "status": "completed",
           "days_to_complete": 18}  # fmt: skip
LATE = {**ON_TIME, "reference": "DSR-2", "completed_on": "2026-04-05", "days_to_complete": 34}
OVERDUE = {**ON_TIME, "reference": "DSR-3", "completed_on": None, "status": "overdue",
           "days_to_complete": None}  # fmt: skip
OPEN = {**OVERDUE, "reference": "DSR-4", "status": "open"}


def _statuses(assertion_id: str) -> dict[str, Status]:
    rows = coerce_rows(PrivacyRequestsCollector.columns, [ON_TIME, LATE, OVERDUE, OPEN])
    findings = evaluate_assertions(PrivacyRequestsCollector, rows, [])
    return {f.resource: f.status for f in findings if f.assertion_id == assertion_id}


def test_collector_is_conformant() -> None:
    assert lint_collector(PrivacyRequestsCollector) == []
    assert {"soc2-2017:P5.1", "soc2-2017:P5.2", "iso27001-2022:A.5.34"} <= set(
        PrivacyRequestsCollector.controls()
    )


def test_completed_on_time_judges_completed_requests_only() -> None:
    assert _statuses("privacy_requests.completed_on_time") == {
        "DSR-1": Status.PASS, "DSR-2": Status.FAIL,
    }  # fmt: skip


def test_none_overdue_fails_each_open_request_past_due() -> None:
    assert _statuses("privacy_requests.none_overdue") == {
        "DSR-1": Status.PASS, "DSR-2": Status.PASS, "DSR-3": Status.FAIL, "DSR-4": Status.PASS,
    }  # fmt: skip


def test_collect_fails_permanently_and_says_where_rows_come_from() -> None:
    with pytest.raises(CollectorError) as caught:
        run_collector(PrivacyRequestsCollector)
    assert caught.value.permanent
    assert "register" in str(caught.value)
