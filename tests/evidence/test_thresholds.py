"""Per-connection assertion thresholds: validated per field, applied and recorded."""

from __future__ import annotations

import pytest

from pixaudit.evidence.models import Finding
from pixaudit.evidence.services import (
    ConnectionParamsError,
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_update,
)

pytestmark = pytest.mark.django_db

ROTATION = "demo_inventory.key_rotation"


def _rotation_findings(run) -> dict[str, tuple[str, dict]]:
    return {
        f.resource: (f.status, f.thresholds)
        for f in Finding.objects.filter(run=run, assertion_id=ROTATION)
    }


@pytest.mark.smoke
def test_connection_thresholds_change_the_outcome_and_are_recorded_on_findings():
    conn = connection_create(name="strict", collector_key="demo_inventory", params={})
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="cli").pk)
    default = _rotation_findings(run)
    assert default["db-orders"][0] == "fail"  # 400 days > 90

    connection_update(connection=conn, thresholds={ROTATION: {"max_days": 500}})
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="cli").pk)
    relaxed = _rotation_findings(run)
    assert relaxed["db-orders"] == ("pass", {"max_days": 500})
    assert run.thresholds == {ROTATION: {"max_days": 500}}


def test_bad_thresholds_are_reported_per_field():
    with pytest.raises(ConnectionParamsError) as exc:
        connection_create(
            name="bad",
            collector_key="demo_inventory",
            params={},
            thresholds={ROTATION: {"max_days": "soon"}, "demo_inventory.nope": {}},
        )
    assert set(exc.value.errors) == {
        f"thresholds.{ROTATION}.max_days",
        "thresholds.demo_inventory.nope",
    }


def test_thresholds_must_be_an_object_of_objects():
    with pytest.raises(ConnectionParamsError) as exc:
        connection_create(
            name="bad", collector_key="demo_inventory", params={}, thresholds={ROTATION: 5}
        )
    assert "thresholds" in exc.value.errors


def test_ad_hoc_runs_take_thresholds_too():
    run = collection_run_create(
        collector_key="demo_inventory", params={}, thresholds={ROTATION: {"max_days": 1000}},
        trigger="cli",
    )  # fmt: skip
    run = collection_run_execute(run_id=run.pk)
    assert all(status == "pass" for status, _ in _rotation_findings(run).values())
