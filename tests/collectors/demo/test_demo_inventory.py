"""Scenarios of the offline demo collector ``demo_inventory``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors import CollectorError, ParamError, Status
from collectors.demo.demo_inventory import DemoInventoryCollector
from collectors.lint import lint_collector
from collectors.testing import run_collector

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def test_collector_is_conformant() -> None:
    assert lint_collector(DemoInventoryCollector) == []


def test_builtin_sample_is_deterministic_and_mixed() -> None:
    first = run_collector(DemoInventoryCollector, now=NOW)
    second = run_collector(DemoInventoryCollector, now=NOW)
    assert first.rows == second.rows
    assert [r["name"] for r in first.rows] == sorted(r["name"] for r in first.rows)
    assert first.statuses("demo_inventory.encryption_at_rest") == {
        "bucket-finance": Status.PASS,
        "bucket-logs": Status.FAIL,
        "db-orders": Status.PASS,
    }
    assert first.statuses("demo_inventory.mfa_enabled") == {
        "acct-alice": Status.PASS,
        "acct-bob": Status.FAIL,
    }
    assert first.statuses("demo_inventory.key_rotation") == {
        "bucket-finance": Status.PASS,
        "db-orders": Status.FAIL,
    }
    assert first.statuses("demo_inventory.owner_assigned")["db-orders"] is Status.FAIL
    assert first.identity == "demo:offline"
    assert first.api_calls == ["demo:DescribeResource", "demo:ListResources"]


def test_key_rotation_threshold_is_tunable() -> None:
    result = run_collector(
        DemoInventoryCollector,
        now=NOW,
        thresholds={"demo_inventory.key_rotation": {"max_days": 365 * 2}},
    )
    assert result.finding("demo_inventory.key_rotation", "db-orders").status is Status.PASS
    assert result.finding("demo_inventory.key_rotation", "db-orders").thresholds == {
        "max_days": 730
    }


def test_resources_param_with_rotation_date_and_partial_error() -> None:
    resources = [
        {"name": "vol-1", "kind": "volume", "encrypted": True,
         "key_rotated_at": "2024-01-01T00:00:00Z", "owner": "ops"},
        {"name": "vol-2", "kind": "volume", "encrypted": True, "error": "AccessDenied"},
        {"name": "acct-x", "kind": "account", "mfa": None, "owner": "x"},
    ]  # fmt: skip
    result = run_collector(DemoInventoryCollector, {"resources": resources}, now=NOW)
    vol1 = next(r for r in result.rows if r["name"] == "vol-1")
    assert vol1["key_age_days"] == 152
    assert result.statuses("demo_inventory.key_rotation") == {
        "vol-1": Status.FAIL,
        "vol-2": Status.ERROR,
    }
    encryption = result.finding("demo_inventory.encryption_at_rest", "vol-2")
    assert encryption.status is Status.ERROR
    assert "AccessDenied" in encryption.message
    assert result.statuses("demo_inventory.mfa_enabled") == {"acct-x": Status.WARN}


def test_empty_inventory_warns() -> None:
    result = run_collector(DemoInventoryCollector, {"resources": "[]"})
    assert result.rows == []
    assert result.statuses("demo_inventory.owner_assigned") == {"*": Status.WARN}


@pytest.mark.parametrize(("mode", "permanent"), [("transient", False), ("permanent", True)])
def test_simulated_errors(mode: str, permanent: bool) -> None:
    with pytest.raises(CollectorError) as info:
        run_collector(DemoInventoryCollector, {"simulate_error": mode})
    assert info.value.permanent is permanent


def test_bad_resources_are_permanent_errors() -> None:
    with pytest.raises(CollectorError, match="unknown fields: colour"):
        run_collector(DemoInventoryCollector, {"resources": [{"name": "a", "colour": "red"}]})
    with pytest.raises(CollectorError, match=r"resources\[0\] must be an object with a name"):
        run_collector(DemoInventoryCollector, {"resources": [{"kind": "storage"}]})
    with pytest.raises(ParamError):
        run_collector(DemoInventoryCollector, {"simulate_error": "sometimes"})
