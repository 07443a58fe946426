from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from pixaudit.evidence import selectors
from pixaudit.evidence.models import (
    MAX_ATTEMPTS,
    RUN_FAILED_RESOURCE,
    CollectionRun,
    EvidenceItem,
    Finding,
    LatestResult,
    RunStatus,
)
from pixaudit.evidence.services import (
    STALE_RUN_MESSAGE,
    CollectionRunActive,
    collection_run_create,
    collection_run_execute,
    collection_run_fail_abandoned,
    collection_run_retry,
    connection_create,
    connection_update,
)
from pixaudit.evidence.storage import artifact_read

from .conftest import DEFAULT_ITEMS, SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def conn(field_keys, inventory, media_root):
    return connection_create(
        name="test inventory", collector_key=inventory.key, params={"token": SECRET}
    )


def run_once(conn, **kwargs):
    run = collection_run_create(connection=conn, trigger="manual")
    return collection_run_execute(run_id=run.pk, **kwargs)


@pytest.mark.smoke
def test_success_stores_artifact_item_findings_latest(conn, inventory):
    run = run_once(conn)
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert (run.rows_count, run.findings_pass, run.findings_fail, run.findings_warn) == (
        3, 4, 1, 1,
    )  # fmt: skip
    item = EvidenceItem.objects.get()
    assert (item.seq, item.collector_key, item.collector_version) == (1, inventory.key, 2)
    assert item.expires_at - item.collected_at == timedelta(hours=6)
    assert item.effective_at == item.collected_at
    assert item.artifact_path == (
        f"evidence/sha256/{item.sha256[:2]}/{item.sha256[2:4]}/{item.sha256}.json"
    )
    doc = json.loads(artifact_read(item.artifact_path))
    assert doc["collector"] == {"key": inventory.key, "version": 2, "title": "Test inventory"}
    assert doc["params"]["token"] == "********"
    assert doc["identity"] == "arn:test:identity/collector"
    assert doc["api_calls"] == ["test:List"]
    assert [c["name"] for c in doc["columns"]] == ["name", "encrypted", "size", "seen_at"]
    # rows sorted deterministically, datetimes canonical
    assert [r["name"] for r in doc["rows"]] == ["bucket-a", "bucket-b", "bucket-c"]
    assert doc["rows"][0]["seen_at"] == "2026-01-01T00:00:00.000000Z"
    assert item.provenance["identity"] == "arn:test:identity/collector"
    assert item.provenance["params"]["token"] == "********"
    assert item.provenance["api_calls_per_resource"] == {
        "resource_type": inventory.key, "resources": 3, "calls": 1, "per_resource": 0.333,
    }  # fmt: skip

    assert Finding.objects.filter(evidence=item).count() == 6
    f = Finding.objects.get(assertion_id="testsrc_inventory.encrypted", resource="bucket-a")
    assert (f.status, f.severity) == ("fail", "high")
    assert f.controls == ["soc2-2017:CC6.1", "iso27001-2022:A.8.24"]
    small = Finding.objects.get(assertion_id="testsrc_inventory.small", resource="bucket-a")
    assert small.thresholds == {"limit": 1000}

    latest = {(r.assertion_id, r.resource): r for r in selectors.latest_results()}
    assert len(latest) == 6
    row = latest[("testsrc_inventory.encrypted", "bucket-a")]
    assert (row.status, row.evidence_id, row.connection_id) == ("fail", item.pk, conn.pk)
    assert selectors.evidence_latest_for_connection(connection=conn) == item
    assert selectors.chain_head() == (1, item.chain_hash)
    conn.refresh_from_db()
    assert conn.next_run_at > item.collected_at


def test_identical_collections_hash_identically(conn):
    with time_machine.travel(datetime(2026, 5, 1, 12, tzinfo=UTC), tick=False):
        first = run_once(conn)
        second = run_once(conn)
    one, two = EvidenceItem.objects.order_by("seq")
    assert first.result.sha256 == second.result.sha256 == one.sha256 == two.sha256
    assert one.artifact_path == two.artifact_path  # content-addressed: stored once
    assert one.findings_digest == two.findings_digest
    assert two.prev_chain_hash == one.chain_hash != two.chain_hash


def test_collection_order_does_not_change_the_hash(conn, inventory, monkeypatch):
    with time_machine.travel(datetime(2026, 5, 1, 12, tzinfo=UTC), tick=False):
        run_once(conn)
        monkeypatch.setattr(inventory, "default_items", list(reversed(DEFAULT_ITEMS)))
        run_once(conn)
    one, two = EvidenceItem.objects.order_by("seq")
    assert one.sha256 == two.sha256


def test_failed_run_stores_nothing_and_previous_results_stay_beside_its_error(conn):
    good = run_once(conn)
    latest_before = list(LatestResult.objects.values_list("assertion_id", "resource", "status"))
    connection_update(connection=conn, params={"mode": "permanent"})
    bad = run_once(conn)
    assert bad.status == RunStatus.FAILED
    assert EvidenceItem.objects.count() == 1 and Finding.objects.count() == 6
    assert selectors.evidence_latest_for_connection(connection=conn).run_id == good.pk
    results = LatestResult.objects.filter(run__isnull=True)
    assert list(results.values_list("assertion_id", "resource", "status")) == latest_before
    # ... and the failure is in current state (ERROR, no evidence), not in the chain
    failed = LatestResult.objects.filter(run=bad)
    assert failed.count() == len({a for a, _, _ in latest_before})
    assert {(r.status, r.evidence_id, r.resource) for r in failed} == {
        ("error", None, RUN_FAILED_RESOURCE)
    }


def test_permanent_vs_transient_errors(conn):
    connection_update(connection=conn, params={"mode": "permanent"})
    run = run_once(conn)
    assert run.status == RunStatus.FAILED and run.error_permanent
    assert run.error_message.startswith("AccessDenied on test:List")
    assert not run.should_retry

    connection_update(connection=conn, params={"mode": "transient"})
    run = run_once(conn)
    assert run.status == RunStatus.FAILED and not run.error_permanent
    assert run.should_retry
    for attempt in range(2, MAX_ATTEMPTS + 1):
        run = collection_run_execute(run_id=collection_run_retry(run_id=run.pk).pk)
        assert run.attempt == attempt
    assert not run.should_retry  # attempts exhausted
    with pytest.raises(ValueError):
        collection_run_retry(run_id=run.pk)


def test_unknown_column_fails_with_message(conn):
    connection_update(connection=conn, params={"mode": "unknown_column"})
    run = run_once(conn)
    assert run.status == RunStatus.FAILED and run.error_permanent
    assert "undeclared column 'surprise'" in run.error_message
    assert EvidenceItem.objects.count() == 0


def test_crash_is_short_message_without_traceback(conn, caplog):
    connection_update(connection=conn, params={"mode": "crash"})
    with caplog.at_level(logging.DEBUG):
        run = run_once(conn)
    assert run.error_message == (
        "internal error in collector testsrc_inventory: RuntimeError: boom with ********"
    )
    assert "Traceback" in caplog.text  # the traceback goes to the log, redacted


@pytest.mark.parametrize("mode", ["ok", "transient", "permanent", "crash", "partial"])
def test_secret_never_stored_or_logged(conn, caplog, mode):
    connection_update(connection=conn, params={"mode": mode})
    with caplog.at_level(logging.DEBUG):
        run = run_once(conn)
    assert SECRET not in run.error_message
    assert SECRET not in caplog.text
    assert "listing with token ********" in caplog.text
    for item in EvidenceItem.objects.all():
        assert SECRET.encode() not in artifact_read(item.artifact_path)
        assert SECRET not in json.dumps(item.provenance)
    for f in Finding.objects.all():
        assert SECRET not in f.message
    run.refresh_from_db()
    assert SECRET not in json.dumps(run.params) + json.dumps(run.secrets)


def test_collector_echoing_a_secret_is_refused(conn, caplog, media_root):
    connection_update(connection=conn, params={"mode": "leak"})
    run = run_once(conn)
    assert run.status == RunStatus.FAILED and run.error_permanent
    assert "returned a secret parameter value" in run.error_message
    assert EvidenceItem.objects.count() == 0
    assert not list(media_root.rglob("*.json"))  # refused before the artifact is written
    assert SECRET not in caplog.text


def test_partial_errors_become_error_findings(conn):
    connection_update(connection=conn, params={"mode": "partial"})
    run = run_once(conn)
    assert run.status == RunStatus.SUCCEEDED
    row = LatestResult.objects.get(assertion_id="testsrc_inventory.encrypted", resource="bucket-c")
    assert row.status == "error" and "test:Describe" in row.message


def test_resource_gone_is_removed_from_latest_and_status_change_tracked(conn):
    with time_machine.travel(datetime(2026, 5, 1, 12, tzinfo=UTC), tick=False):
        run_once(conn)
    items = [dict(i) for i in DEFAULT_ITEMS if i["name"] != "bucket-c"]
    items[1]["encrypted"] = True  # bucket-a gets fixed
    connection_update(connection=conn, params={"items": items})
    with time_machine.travel(datetime(2026, 5, 2, 12, tzinfo=UTC), tick=False):
        run_once(conn)
    latest = {(r.assertion_id, r.resource): r for r in LatestResult.objects.all()}
    assert not any(res == "bucket-c" for _, res in latest)
    fixed = latest[("testsrc_inventory.encrypted", "bucket-a")]
    assert fixed.status == "pass"
    assert fixed.first_seen_at == datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert fixed.last_changed_at == datetime(2026, 5, 2, 12, tzinfo=UTC)
    same = latest[("testsrc_inventory.encrypted", "bucket-b")]
    assert same.last_changed_at == datetime(2026, 5, 1, 12, tzinfo=UTC)
    # history keeps everything
    assert Finding.objects.filter(resource="bucket-c").count() == 2


def test_cli_run_without_connection_and_no_store(field_keys, inventory, media_root):
    run = collection_run_create(
        collector_key=inventory.key, params={"token": SECRET}, trigger="cli"
    )
    assert SECRET not in json.dumps(run.secrets) and "token" not in run.params
    run = collection_run_execute(run_id=run.pk, store=False)
    assert run.status == RunStatus.SUCCEEDED and run.findings_total == 6
    assert len(run.result.findings) == 6 and run.result.evidence is None
    assert EvidenceItem.objects.count() == 0

    run = collection_run_execute(
        run_id=collection_run_create(collector_key=inventory.key, params={}, trigger="cli").pk
    )
    assert run.result.evidence.connection is None
    assert LatestResult.objects.filter(connection__isnull=True).count() == 6


def test_one_active_run_per_connection(conn):
    first = collection_run_create(connection=conn, trigger="schedule")
    with pytest.raises(CollectionRunActive) as exc:
        collection_run_create(connection=conn, trigger="manual")
    assert exc.value.run == first
    collection_run_execute(run_id=first.pk)
    # a finished run no longer blocks; executing it again is a no-op
    assert collection_run_execute(run_id=first.pk).status == RunStatus.SUCCEEDED
    assert EvidenceItem.objects.count() == 1
    collection_run_create(connection=conn, trigger="manual")


def test_fail_abandoned_rechecks_what_the_caller_judged(conn):
    run = collection_run_create(connection=conn, trigger="schedule")
    CollectionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, job_id="job-1",
        started_at=datetime.now(UTC) - timedelta(minutes=5),
    )  # fmt: skip
    # Judged on another job id (the run was handed over again meanwhile): left alone.
    assert not collection_run_fail_abandoned(
        run_id=run.pk, message=STALE_RUN_MESSAGE, job_id="job-0"
    )
    assert not collection_run_fail_abandoned(
        run_id=run.pk, message=STALE_RUN_MESSAGE, status=RunStatus.QUEUED
    )
    assert collection_run_fail_abandoned(run_id=run.pk, message=STALE_RUN_MESSAGE, job_id="job-1")
    run.refresh_from_db()
    assert (run.status, run.error_message) == (RunStatus.FAILED, STALE_RUN_MESSAGE)
    assert run.should_retry
    assert EvidenceItem.objects.count() == 0
    # Already failed: a second sweep changes nothing.
    assert not collection_run_fail_abandoned(run_id=run.pk, message="other")


def test_run_failed_by_the_sweep_while_collecting_stores_nothing(conn, inventory, monkeypatch):
    # The sweep judged the run dead (and may already have queued its retry): when the
    # original worker finishes after all, it must not append nor flip the run to succeeded.
    original = inventory.collect

    def collect_then_swept(self, ctx):
        rows = original(self, ctx)
        running = CollectionRun.objects.get(status=RunStatus.RUNNING)
        assert collection_run_fail_abandoned(run_id=running.pk, message=STALE_RUN_MESSAGE)
        return rows

    monkeypatch.setattr(inventory, "collect", collect_then_swept)
    run = run_once(conn)
    assert (run.status, run.error_message) == (RunStatus.FAILED, STALE_RUN_MESSAGE)
    assert not EvidenceItem.objects.exists() and not LatestResult.objects.exists()
