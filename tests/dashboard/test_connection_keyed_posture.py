"""Issue 12.2: current state is keyed by connection; adding a connection never improves posture.

Real runs of the demo collector through the runner (no rows written by hand): a second
connection (or an ad-hoc run without connection) reporting a resource of the same name
passing must not replace the first connection's failure, nor its staleness.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import time_machine
from django.urls import reverse

from pixaudit.controls.selectors import control_get
from pixaudit.evidence.models import LatestResult
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.posture.selectors import ControlStatus, control_posture

ENCRYPTION = "demo_inventory.encryption_at_rest"
#: bucket-logs encrypted, with a recent key and an owner: passes every demo assertion.
GOOD = [{"name": "bucket-logs", "kind": "storage", "encrypted": True, "key_age_days": 10,
         "owner": "platform"}]  # fmt: skip
#: The same name, not encrypted.
BAD = [{"name": "bucket-logs", "kind": "storage", "encrypted": False, "owner": "platform"}]


def _connection(name: str, resources=None):
    params = {} if resources is None else {"resources": json.dumps(resources)}
    return connection_create(name=name, collector_key="demo_inventory", params=params)


def _run(connection=None, **adhoc):
    if connection is not None:
        run = collection_run_create(connection=connection, trigger="manual")
    else:
        run = collection_run_create(collector_key="demo_inventory", params=adhoc, trigger="cli")
    run = collection_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error_message
    return run


def _status(ref: str = "A.8.24", framework: str = "iso27001-2022") -> str:
    return control_posture(control=control_get(framework_key=framework, ref=ref)).status


def _encryption_rows():
    return {
        (r.connection.name if r.connection else None, r.status)
        for r in LatestResult.objects.filter(
            assertion_id=ENCRYPTION, resource="bucket-logs"
        ).select_related("connection")
    }


def test_a_second_connection_passing_the_same_resource_leaves_the_control_failing(
    catalogs, media_root
):
    first = _connection("Production inventory", BAD)
    _run(first)
    assert _status() == ControlStatus.FAILING
    second = _connection("Staging inventory", GOOD)
    _run(second)
    assert _encryption_rows() == {("Production inventory", "fail"), ("Staging inventory", "pass")}
    assert _status() == ControlStatus.FAILING
    _run(first)  # the failing connection runs again: still one row per connection
    assert _encryption_rows() == {("Production inventory", "fail"), ("Staging inventory", "pass")}
    assert _status() == ControlStatus.FAILING


def test_the_demo_sample_beside_the_same_names_does_not_turn_bucket_logs_green(
    catalogs, media_root
):
    # The reviewer's case: a demo_inventory connection reported bucket-logs passing after
    # another connection had reported it failing, and the control turned green.
    real = _connection("Real inventory", BAD)
    _run(real)
    demo = _connection("Demo inventory")  # the built-in sample: bucket-logs fails there too
    _run(demo)
    passing = _connection("Passing inventory", GOOD)
    _run(passing)
    rows = _encryption_rows()
    assert ("Real inventory", "fail") in rows and ("Passing inventory", "pass") in rows
    assert _status() == ControlStatus.FAILING


def test_an_adhoc_run_without_connection_cannot_overwrite_a_connections_result(
    catalogs, media_root
):
    _run(_connection("Production inventory", BAD))
    _run(resources=json.dumps(GOOD))  # manage.py collect --params ... (no connection)
    assert _encryption_rows() == {("Production inventory", "fail"), (None, "pass")}
    assert _status() == ControlStatus.FAILING


def test_a_fresh_connection_does_not_hide_a_stale_one(catalogs, media_root):
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        _run(_connection("Old inventory", GOOD))
        assert _status() == ControlStatus.PASSING
    later = start + timedelta(days=2)  # demo evidence is fresh for one day
    with time_machine.travel(later, tick=False):
        assert _status() == ControlStatus.STALE
        _run(_connection("New inventory", GOOD))
        assert _status() == ControlStatus.STALE  # the old connection's evidence still expired


def test_a_connection_sweeps_only_its_own_resources(catalogs, media_root):
    first = _connection("First", BAD)
    second = _connection("Second", GOOD)
    _run(first)
    _run(second)
    from pixaudit.evidence.services import connection_update

    connection_update(connection=second, params={"resources": "[]"})
    _run(second)  # Second no longer has bucket-logs: only its own row goes
    assert _encryption_rows() == {("First", "fail")}


def test_control_detail_names_the_connection_of_each_failing_result(
    logged_in, catalogs, media_root
):
    _run(_connection("Production inventory", BAD))
    _run(_connection("Staging inventory", GOOD))
    response = logged_in.get(reverse("dashboard:control_detail", args=["iso27001-2022", "A.8.24"]))
    html = response.content.decode()
    assert response.context["item"].status == ControlStatus.FAILING
    failing = [(r.resource, r.connection.name) for r, _ in response.context["failing"]]
    assert failing == [("bucket-logs", "Production inventory")]
    # every result's source is on the page: per check, per connection
    assert "Production inventory" in html and "Staging inventory" in html
