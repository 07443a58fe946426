"""Issue 13.10 (current state): verify_evidence rebuilds the current state from history and
names every current-state row that differs from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.utils import timezone

from collectors.base import Finding as SdkFinding
from collectors.base import Severity, Status
from pixaudit.evidence.integrity_current import current_state_rebuild, verify_current_state
from pixaudit.evidence.models import RUN_FAILED_RESOURCE, LatestResult
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_update,
)
from pixaudit.evidence.services.append import evidence_append

from .conftest import DEFAULT_ITEMS

pytestmark = pytest.mark.django_db

ENCRYPTED = "testsrc_inventory.encrypted"


def _run(conn=None, **adhoc):
    if conn is None:
        run = collection_run_create(collector_key="testsrc_inventory", params=adhoc, trigger="cli")
    else:
        run = collection_run_create(connection=conn, trigger="manual")
    return collection_run_execute(run_id=run.pk)


def _sql(statement: str, params: list) -> int:
    with db_connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


@pytest.fixture
def history(field_keys, inventory, media_root):
    """A varied history through the real runner: status changes over time, a resource that
    disappears, duplicates, two connections with the same resource names, an ad-hoc run,
    appended evidence, and a connection whose last run failed."""
    first = connection_create(name="prod", collector_key=inventory.key, params={})
    second = connection_create(name="staging", collector_key=inventory.key, params={})
    t0 = datetime(2026, 4, 1, 8, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        assert _run(first).status == "succeeded"
        assert _run(second).status == "succeeded"
    fixed = [dict(i, encrypted=True) for i in DEFAULT_ITEMS if i["name"] != "bucket-c"]
    with time_machine.travel(t0 + timedelta(hours=1), tick=False):
        connection_update(connection=first, params={"items": fixed})
        assert _run(first).status == "succeeded"  # bucket-a passes now, bucket-c is gone
    with time_machine.travel(t0 + timedelta(hours=2), tick=False):
        connection_update(connection=second, params={"mode": "partial"})
        assert _run(second).status == "succeeded"  # ERROR + a check's finding for bucket-c
        assert _run(items=[{"name": "bucket-a", "encrypted": True}]).status == "succeeded"
        now = timezone.now()
        evidence_append(
            collector_key="access_review", document={"review": 1}, collected_at=now,
            expires_at=now + timedelta(days=30),
            findings=[SdkFinding("access_review.completed", "prod review", Status.PASS,
                                 Severity.MEDIUM, "Completed.")],
        )  # fmt: skip
    with time_machine.travel(t0 + timedelta(hours=3), tick=False):
        connection_update(connection=second, params={"mode": "permanent"})
        assert _run(second).status == "failed"
    return first, second


def test_untouched_current_state_matches_its_history(history):
    result = verify_current_state()
    assert result.ok, result.summary()
    assert result.rows == LatestResult.objects.count() == result.expected
    # the history above exercised every kind of row
    rows = LatestResult.objects.all()
    assert rows.filter(run__isnull=False, resource=RUN_FAILED_RESOURCE).exists()
    assert rows.filter(connection__isnull=True, collector_key="access_review").exists()
    assert rows.filter(connection__isnull=True, collector_key="testsrc_inventory").exists()
    assert not rows.filter(connection=history[0], resource="bucket-c").exists()
    assert rows.get(connection=history[0], assertion_id=ENCRYPTED, resource="bucket-a").status == (
        "pass"
    )
    assert len(current_state_rebuild()) == rows.count()


def test_a_changed_status_is_named(history):
    first, _ = history
    changed = _sql(
        "UPDATE evidence_latestresult SET status = 'pass' "
        "WHERE assertion_id = %s AND resource = %s AND connection_id = %s",
        [ENCRYPTED, "bucket-c", history[1].pk],
    )
    assert changed == 1
    result = verify_current_state()
    assert not result.ok and result.total_differences == 1
    text = result.summary()
    assert (
        f"{ENCRYPTED} · bucket-c · connection 'staging' (id {history[1].pk}): "
        "status is 'pass', history says 'error'"
    ) in text, text
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("verify_evidence", stdout=out)
    assert "status is 'pass', history says 'error'" in str(info.value)
    assert out.getvalue().startswith("OK: ")  # the chain itself is intact


def test_removed_added_and_rewritten_rows_are_named(history):
    first, second = history
    _sql(
        "DELETE FROM evidence_latestresult WHERE assertion_id = %s AND resource = %s "
        "AND connection_id = %s",
        [ENCRYPTED, "bucket-a", first.pk],
    )
    _sql(
        "UPDATE evidence_latestresult SET last_changed_at = %s, message = %s "
        "WHERE assertion_id = %s AND resource = %s AND connection_id = %s",
        [datetime(2020, 1, 1, tzinfo=UTC), "fine", "testsrc_inventory.small", "bucket-a",
         first.pk],
    )  # fmt: skip
    _sql(  # a failed connection's ERROR made to vanish
        "DELETE FROM evidence_latestresult WHERE run_id IS NOT NULL AND assertion_id = %s",
        [ENCRYPTED],
    )
    row = LatestResult.objects.filter(connection=first).first()
    _sql(  # and a row nobody collected
        "INSERT INTO evidence_latestresult (assertion_id, resource, collector_key, "
        "connection_id, status, severity, message, controls, evidence_id, collected_at, "
        "first_seen_at, last_changed_at) VALUES (%s, %s, %s, %s, 'pass', 'high', 'ok', '[]', "
        "%s, %s, %s, %s)",
        [ENCRYPTED, "bucket-z", "testsrc_inventory", first.pk, row.evidence_id,
         row.collected_at, row.collected_at, row.collected_at],
    )  # fmt: skip
    result = verify_current_state()
    text = result.summary()
    assert result.total_differences == 4, text
    assert f"{ENCRYPTED} · bucket-a · connection 'prod' (id {first.pk}): missing" in text
    assert "testsrc_inventory.small · bucket-a · connection 'prod'" in text
    assert "message is 'fine'" in text and "last_changed_at is '2020-01-01" in text
    assert f"{ENCRYPTED} · {RUN_FAILED_RESOURCE} · connection 'staging'" in text
    assert "bucket-z · connection 'prod'" in text and "is not derived from history" in text
