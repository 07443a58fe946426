"""Issue 13.7: a failed run shows on its controls at once, and they recover when a run succeeds.

Real failing runs only: a collector raising ``CollectorError(permanent=True)``, transient
failures that exhaust their retries through the job code, an HTTP endpoint that stops
answering (a real server on 127.0.0.1, then closed), a run failed by the dead-worker sweep,
and (on PostgreSQL and Redis) a real RQ worker. Nothing of a failed run is appended to the
evidence chain: the ERROR state is derived (run-failure rows of current state).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    registry,
)
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.selectors import control_get
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import (
    MAX_ATTEMPTS,
    RUN_FAILED_RESOURCE,
    CollectionRun,
    EvidenceItem,
    LatestResult,
    RunStatus,
)
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_update,
)
from pixaudit.evidence.services.scheduling import collection_run_enqueue, collections_enqueue_due
from pixaudit.evidence.services.sweep import collection_runs_sweep
from pixaudit.posture.selectors import ControlStatus, control_posture

# Fixtures of the worker tests (real RQ workers on the real Redis and PostgreSQL).
from tests.jobs.conftest import (  # noqa: F401
    async_collect_queue,
    real_services,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.reliability

#: bucket-logs encrypted, with a recent key and an owner: passes every demo assertion.
GOOD = json.dumps([{"name": "bucket-logs", "kind": "storage", "encrypted": True,
                    "key_age_days": 10, "owner": "platform"}])  # fmt: skip
CONTROL = ("iso27001-2022", "A.8.24")  # demo encryption_at_rest and key_rotation map here


def _status(framework: str = CONTROL[0], ref: str = CONTROL[1]) -> str:
    return control_posture(control=control_get(framework_key=framework, ref=ref)).status


def _run(connection) -> CollectionRun:
    """One attempt, executed as the job does it (no retry queued)."""
    run = collection_run_create(connection=connection, trigger="manual")
    return collection_run_execute(run_id=run.pk)


def _failure_rows(connection):
    return LatestResult.objects.filter(connection=connection, run__isnull=False)


@pytest.fixture
def mapped(db, settings, tmp_path):
    from pixaudit.controls.services import catalogs_load_builtin

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    catalogs_load_builtin()
    check_mappings_sync_from_registry()


@pytest.fixture
def demo(mapped):
    connection = connection_create(
        name="Storage inventory", collector_key="demo_inventory", params={"resources": GOOD}
    )
    assert _run(connection).status == RunStatus.SUCCEEDED
    assert _status() == ControlStatus.PASSING
    return connection


def test_a_permanent_failure_turns_the_controls_to_error_at_once_and_a_success_recovers(
    demo, client, django_user_model
):
    items = EvidenceItem.objects.count()
    connection_update(connection=demo, params={"resources": GOOD, "simulate_error": "permanent"})
    failed = _run(demo)
    assert failed.status == RunStatus.FAILED and failed.error_permanent

    # at once: no expiry to wait for, no scheduler tick
    assert _status() == ControlStatus.ERROR
    assert _status("soc2-2017", "CC6.1") == ControlStatus.ERROR
    rows = _failure_rows(demo)
    assert {r.assertion_id for r in rows} == {
        "demo_inventory.encryption_at_rest", "demo_inventory.mfa_enabled",
        "demo_inventory.key_rotation", "demo_inventory.owner_assigned",
    }  # fmt: skip
    assert {(r.status, r.resource, r.run_id, r.evidence_id) for r in rows} == {
        ("error", RUN_FAILED_RESOURCE, failed.pk, None)
    }
    # nothing was appended to the chain, which still verifies
    assert EvidenceItem.objects.count() == items
    assert verify_chain().ok

    # the run's message is on the control's page, with a link to the run
    client.force_login(django_user_model.objects.create_user("casey", password="x" * 16))
    page = client.get(reverse("dashboard:control_detail", args=CONTROL))
    html = page.content.decode()
    assert page.context["item"].status == ControlStatus.ERROR
    assert "simulated permanent failure" in html
    assert reverse("dashboard:run_detail", args=[failed.pk]) in html
    assert "Storage inventory" in html

    # a second failed run replaces the rows (newest run and message), it does not add any
    again = _run(demo)
    assert {r.run_id for r in _failure_rows(demo)} == {again.pk}
    assert _failure_rows(demo).count() == 4

    connection_update(connection=demo, params={"resources": GOOD, "simulate_error": "none"})
    assert _run(demo).status == RunStatus.SUCCEEDED
    assert _status() == ControlStatus.PASSING
    assert not _failure_rows(demo).exists()


def test_transient_failures_wait_for_their_retries_then_turn_to_error(
    demo, django_capture_on_commit_callbacks
):
    connection_update(connection=demo, params={"resources": GOOD, "simulate_error": "transient"})
    first = _run(demo)
    assert first.status == RunStatus.FAILED and first.should_retry
    # a retry is coming: the previous results stay current meanwhile
    assert _status() == ControlStatus.PASSING and not _failure_rows(demo).exists()

    # through the job code: every attempt fails (embedded queue: retries run at once)
    Connection = type(demo)
    Connection.objects.filter(pk=demo.pk).update(next_run_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        collection_run_enqueue(connection=demo, trigger="manual")
    last = CollectionRun.objects.filter(connection=demo).order_by("-pk").first()
    assert last.attempt == MAX_ATTEMPTS and last.status == RunStatus.FAILED
    assert not last.should_retry
    assert _status() == ControlStatus.ERROR
    assert {r.run_id for r in _failure_rows(demo)} == {last.pk}
    assert "simulated transient failure" in _failure_rows(demo).first().message


class _Report(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"stores": [{"name": "db-orders", "encrypted": True}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _StoresCollector(Collector):
    """Data stores read from an HTTP report (test collector; a closed port is a failed run)."""

    key = "relsrc_stores"
    title = "Stores over HTTP"
    version = 1
    params = (Param("url", "string", required=True, help="Report URL."),)
    permissions = ("stores:Read",)
    columns = (Column("name", "string", "Store."), Column("encrypted", "boolean", "Encrypted."))
    resource_column = "name"
    max_age = timedelta(hours=6)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        ctx.record_call("stores:Read")
        url = ctx.params["url"]
        try:
            response = requests.get(url, timeout=5)
        except requests.RequestException as exc:
            raise CollectorError(
                f"cannot reach {url}: {type(exc).__name__}", permanent=False
            ) from None
        return response.json()["stores"]

    @assertion(
        "relsrc_stores.encrypted",
        title="Stores are encrypted",
        severity=Severity.HIGH,
        remediation="Encrypt it.",
        controls=("iso27001-2022:A.8.24",),
    )
    def encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        status = Status.PASS if row["encrypted"] else Status.FAIL
        return Outcome(status, f"{row['name']}: {status}")


def test_an_endpoint_that_stops_answering_turns_its_controls_to_error(
    mapped, django_capture_on_commit_callbacks
):
    def collect(connection) -> None:  # through the job code, with its retries
        with django_capture_on_commit_callbacks(execute=True):
            collection_run_enqueue(connection=connection, trigger="manual")

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Report)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with registry.temporarily(_StoresCollector):
        check_mappings_sync_from_registry()
        connection = connection_create(
            name="Stores report", collector_key="relsrc_stores",
            params={"url": f"http://127.0.0.1:{port}/report"},
        )  # fmt: skip
        collect(connection)
        assert _status() == ControlStatus.PASSING

        server.shutdown()
        server.server_close()  # the port now refuses connections
        collect(connection)  # 3 attempts
        runs = list(CollectionRun.objects.filter(connection=connection).order_by("pk"))
        assert [r.status for r in runs] == ["succeeded", "failed", "failed", "failed"]
        assert _status() == ControlStatus.ERROR
        row = _failure_rows(connection).get()
        assert row.assertion_id == "relsrc_stores.encrypted" and row.run_id == runs[-1].pk
        assert f"cannot reach http://127.0.0.1:{port}/report" in row.message

        server = ThreadingHTTPServer(("127.0.0.1", port), _Report)  # back on the same port
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            collect(connection)
        finally:
            server.shutdown()
            server.server_close()
        assert _status() == ControlStatus.PASSING
        assert not _failure_rows(connection).exists()


def test_a_last_attempt_failed_by_the_dead_worker_sweep_turns_to_error(demo):
    run = collection_run_create(connection=demo, trigger="schedule", attempt=MAX_ATTEMPTS)
    CollectionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(hours=2),
        job_id="pixaudit-run-gone", worker="elsewhere:1",
    )  # fmt: skip
    assert collection_runs_sweep() == 1
    assert _status() == ControlStatus.ERROR
    assert {r.run_id for r in _failure_rows(demo)} == {run.pk}


def test_the_scheduler_tick_restores_missing_failure_rows_and_drops_obsolete_ones(demo):
    connection_update(connection=demo, params={"resources": GOOD, "simulate_error": "permanent"})
    failed = _run(demo)
    with db_connection.cursor() as cursor:  # e.g. lost by a crash between the two writes
        cursor.execute("DELETE FROM evidence_latestresult WHERE run_id IS NOT NULL")
    assert _status() == ControlStatus.PASSING
    type(demo).objects.filter(pk=demo.pk).update(next_run_at=timezone.now() + timedelta(days=1))
    collections_enqueue_due()
    assert _status() == ControlStatus.ERROR
    assert {r.run_id for r in _failure_rows(demo)} == {failed.pk}


def test_a_new_connection_that_fails_is_not_hidden_by_another_that_passes(demo):
    broken = connection_create(
        name="Second inventory", collector_key="demo_inventory",
        params={"resources": GOOD, "simulate_error": "permanent"},
    )  # fmt: skip
    assert _run(broken).status == RunStatus.FAILED
    assert _status() == ControlStatus.ERROR  # adding a failing connection never leaves it green


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.redis
def test_a_real_worker_failing_a_run_turns_the_controls_to_error(request, mapped):
    request.getfixturevalue("async_collect_queue")  # jobs go to Redis, a worker runs them
    start = request.getfixturevalue("start_worker")
    connection = connection_create(
        name="Worker inventory", collector_key="demo_inventory", params={"resources": GOOD}
    )
    run = collection_run_enqueue(connection=connection, trigger="manual")
    start("--burst")
    wait_for(
        lambda: CollectionRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED,
        what="the first run",
    )
    assert _status() == ControlStatus.PASSING
    connection_update(
        connection=connection, params={"resources": GOOD, "simulate_error": "permanent"}
    )
    failing = collection_run_enqueue(connection=connection, trigger="manual")
    # When the worker's job is over (not merely when the run's status flipped: the ERROR rows
    # are written right after that commit), the controls show the failure.
    start("--burst").wait(timeout=120)
    assert CollectionRun.objects.get(pk=failing.pk).status == RunStatus.FAILED
    assert _status() == ControlStatus.ERROR
    assert {r.run_id for r in _failure_rows(connection)} == {failing.pk}
