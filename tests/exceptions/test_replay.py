"""Exceptions derived from hand-built findings histories (incremental upkeep and rebuild)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from collectors.base import Finding, Severity, Status
from pixaudit.exceptions.models import EndReason, ExceptionRecord, ReplayCursor
from pixaudit.exceptions.replay import DERIVED_FIELDS
from pixaudit.exceptions.services import exceptions_rebuild, exceptions_sync
from tests.exceptions.helpers import ENCRYPTION, MFA, History, day_at

pytestmark = pytest.mark.django_db


def _snapshot() -> list[tuple]:
    rows = ExceptionRecord.objects.order_by("start_seq", "assertion_id", "resource")
    return [tuple([r.assertion_id, r.resource, *(getattr(r, f) for f in DERIVED_FIELDS)])
            for r in rows]  # fmt: skip


def test_fail_days_10_to_14_is_one_exception_of_five_days():
    history = History()
    for day in range(1, 21):
        history.day(day, {"db-1": "fail" if 10 <= day <= 14 else "pass", "db-2": "pass"})
    (row,) = ExceptionRecord.objects.all()
    assert (row.assertion_id, row.resource) == (ENCRYPTION, "db-1")
    assert row.connection_id == history.connection.pk
    assert row.opened_at == day_at(10) and row.closed_at == day_at(15)
    assert row.closed_at - row.opened_at == timedelta(days=5)
    assert row.start_evidence_id == history.items[10].pk
    assert row.last_evidence_id == history.items[14].pk
    assert row.end_evidence_id == history.items[15].pk
    assert row.end_reason == EndReason.PASSED
    assert row.severity == "high" and row.message == "db-1 is fail on day 14."
    assert ReplayCursor.objects.get(pk=1).seq == history.items[20].seq


def test_still_failing_stays_open_and_a_later_failure_is_a_new_exception():
    history = History()
    history.day(1, {"db-1": "fail"})
    history.day(2, {"db-1": "pass"})
    history.day(3, {"db-1": "fail"})
    history.day(4, {"db-1": "fail"})
    first, second = ExceptionRecord.objects.order_by("opened_at")
    assert first.closed_at == day_at(2)
    assert second.opened_at == day_at(3) and second.closed_at is None
    assert second.end_evidence_id is None and second.last_evidence_id == history.items[4].pk


def test_error_neither_opens_nor_closes_warn_and_absence_close():
    history = History()
    history.day(1, {"a": "error", "b": "fail", "c": "fail"})
    assert not ExceptionRecord.objects.filter(resource="a").exists()
    history.day(2, {"a": "error", "b": "error", "c": "fail"})
    assert ExceptionRecord.objects.get(resource="b").closed_at is None
    history.day(3, {"b": "warn"})  # c is no longer reported: the resource is gone
    b, c = ExceptionRecord.objects.get(resource="b"), ExceptionRecord.objects.get(resource="c")
    assert (b.closed_at, b.end_reason) == (day_at(3), EndReason.WARNING)
    assert (c.closed_at, c.end_reason) == (day_at(3), EndReason.GONE)


def test_worst_result_of_an_item_counts_and_severity_is_the_worst_seen():
    history = History()
    duplicate = Finding(ENCRYPTION, "db", Status.FAIL, Severity.HIGH, "x")
    history.day(1, {"db": "pass"}, extra=[duplicate])
    history.day(2, {"db": "fail"}, severity="critical")
    history.day(3, {"db": "fail"}, severity="low")
    row = ExceptionRecord.objects.get()
    assert row.opened_at == day_at(1) and row.severity == "critical"


def test_exceptions_are_keyed_by_connection():
    a, b = History(name="prod"), History(name="staging")
    a.day(1, {"db": "fail"})
    b.day(1, {"db": "pass"})
    b.day(2, {})
    rows = list(ExceptionRecord.objects.all())
    assert len(rows) == 1 and rows[0].connection_id == a.connection.pk and rows[0].closed_at is None


def test_appended_evidence_adds_but_never_sweeps():
    history = History(connection=False)
    history.day(1, {"acct-1": "fail"}, assertion=MFA, appended=True)
    history.day(2, {"acct-2": "pass"}, assertion=MFA, appended=True)
    assert ExceptionRecord.objects.get(resource="acct-1").closed_at is None
    history.day(3, {"acct-1": "pass"}, assertion=MFA, appended=True)
    assert ExceptionRecord.objects.get(resource="acct-1").closed_at == day_at(3)


def test_sync_is_idempotent_and_catches_up_in_one_go():
    history = History(sync=False)
    for day in range(1, 8):
        history.day(day, {"db": "fail" if day in (2, 3, 5) else "pass"})
    first = exceptions_sync()
    assert first.items == 7 and first.created == 2
    again = exceptions_sync()
    assert again.items == 0 and (again.created, again.updated) == (0, 0)
    assert len(_snapshot()) == 2


def test_rebuild_equals_incremental_on_a_random_history(django_user_model):
    rng = random.Random(14)
    histories = [History(name="prod"), History(name="staging")]
    for day in range(1, 41):
        for history in histories:
            results = {}
            for resource in ("db-1", "db-2", "db-3", "bucket"):
                roll = rng.random()
                if roll < 0.1:
                    continue  # not reported that day
                results[resource] = ("error" if roll < 0.2 else "warn" if roll < 0.25
                                     else "fail" if roll < 0.55 else "pass")  # fmt: skip
            history.day(day, results, severity=rng.choice(["critical", "high", "low"]))
    incremental = _snapshot()
    assert len(incremental) > 20
    assert any(row[7] is None for row in incremental)  # some still open (closed_at)
    # People's additions survive a rebuild.
    user = django_user_model.objects.create(username="owner", role="engineer")
    kept = ExceptionRecord.objects.order_by("id").first()
    ExceptionRecord.objects.filter(pk=kept.pk).update(owner=user, note="tracked in JIRA-1")
    result = exceptions_rebuild()
    assert (result.created, result.updated, result.removed) == (0, 0, 0)
    assert _snapshot() == incremental
    kept.refresh_from_db()
    assert (kept.owner_id, kept.note) == (user.pk, "tracked in JIRA-1")
    # From an empty register, the rebuild finds exactly the same exceptions.
    ExceptionRecord.objects.all().delete()
    ReplayCursor.objects.all().delete()
    assert exceptions_rebuild().created == len(incremental)
    assert _snapshot() == incremental


def test_rebuild_repairs_a_tampered_register():
    history = History()
    for day in range(1, 6):
        history.day(day, {"db": "fail" if day in (2, 3) else "pass"})
    expected = _snapshot()
    row = ExceptionRecord.objects.get()
    ExceptionRecord.objects.filter(pk=row.pk).update(closed_at=None, end_evidence=None,
                                                     end_seq=None, end_reason="")  # fmt: skip
    result = exceptions_rebuild()
    assert result.updated == 1 and _snapshot() == expected
