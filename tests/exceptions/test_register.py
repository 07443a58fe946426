"""Deadlines, filters, owners and risk acceptance of the exceptions register."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.controls.models import Control
from pixaudit.evidence.models import LatestResult
from pixaudit.exceptions import selectors, services
from pixaudit.exceptions.models import ExceptionRecord, ReplayCursor
from pixaudit.exceptions.selectors import ExceptionFilters, exception_list, exception_rows
from pixaudit.posture.models import ControlOwner
from tests.exceptions.helpers import History, day_at
from tests.security.helpers import user_make

pytestmark = pytest.mark.django_db


def _by_resource(rows):
    return {row.record.resource: row for row in rows}


@pytest.fixture
def four(soc2):
    """a: high, days 1-5; b: high, days 1-40; c: critical, open since day 1; d: low, open."""
    history = History()
    for day in range(1, 42):
        history.day(day, {
            "a": "fail" if day <= 5 else "pass",
            "b": "fail" if day <= 40 else "pass",
        })  # fmt: skip
    crit = History(name="critical")
    crit.day(1, {"c": "fail"}, severity="critical")
    low = History(name="low")
    low.day(1, {"d": "fail"}, severity="low")
    return history


def test_deadlines_by_severity(four):
    now = day_at(50)
    rows = _by_resource(exception_rows(exception_list(now=now), now=now))
    assert rows["a"].duration == timedelta(days=5) and not rows["a"].past_deadline
    assert rows["a"].deadline_at == day_at(1) + timedelta(days=30)
    assert rows["b"].duration == timedelta(days=40) and rows["b"].past_deadline
    assert rows["c"].status == "open" and rows["c"].past_deadline  # 49 days > 7
    assert rows["d"].status == "open" and not rows["d"].past_deadline  # 49 days < 180
    assert rows["c"].deadline_label == "past deadline"
    assert rows["d"].deadline_label == "within deadline"
    past = exception_list(filters=ExceptionFilters(past_deadline=True), now=now)
    assert sorted(r.resource for r in past) == ["b", "c"]


def test_deadlines_come_from_settings(four, settings):
    settings.PIXAUDIT_EXCEPTION_DEADLINE_DAYS = {"high": 3, "critical": 7, "low": 60}
    now = day_at(100)
    past = exception_list(filters=ExceptionFilters(past_deadline=True), now=now)
    assert sorted(r.resource for r in past) == ["a", "b", "c", "d"]
    settings.PIXAUDIT_EXCEPTION_DEADLINE_DAYS = {}
    row = exception_rows(exception_list(now=now), now=now)[0]
    assert row.deadline_at is None and row.deadline_label == "no deadline"


def test_filters(four):
    now = day_at(50)

    def names(**kw):
        return sorted(r.resource for r in exception_list(filters=ExceptionFilters(**kw), now=now))

    assert names(status="open") == ["c", "d"]
    assert names(status="closed") == ["a", "b"]
    assert names(severity="critical") == ["c"]
    assert names(control=Control.objects.get(framework__key="soc2-2017", ref="CC6.1")) == [
        "a", "b", "c", "d"]  # fmt: skip
    assert names(control=Control.objects.get(framework__key="soc2-2017", ref="CC1.1")) == []
    # Date range: overlapping [since, until]; a closed on day 6, b on day 41.
    assert names(since=day_at(10).date()) == ["b", "c", "d"]
    assert names(since=day_at(45).date()) == ["c", "d"]
    assert names(until=day_at(1).date(), status="closed") == ["a", "b"]
    assert names(until=(day_at(1) - timedelta(days=1)).date()) == []


def test_filters_from_query_refuses_bad_values(soc2):
    filters, errors = selectors.filters_from_query(
        {"status": "bogus", "severity": "high", "control": "soc2-2017:NOPE", "since": "x",
         "until": "2026-01-05", "past_deadline": "1"}
    )  # fmt: skip
    assert set(errors) == {"status", "control", "since"}
    assert filters.severity == "high" and filters.past_deadline and filters.status == ""


def test_owner_defaults_to_the_control_owner_and_can_be_set(four):
    control = Control.objects.get(framework__key="soc2-2017", ref="CC6.1")
    owner, manager = user_make(Role.ENGINEER), user_make(Role.COMPLIANCE_MANAGER)
    ControlOwner.objects.create(control=control, owner=owner, assigned_by=manager)
    record = ExceptionRecord.objects.get(resource="c")
    (row,) = exception_rows([record])
    assert row.owner == owner and row.owner_is_default
    assert "soc2-2017:CC6.1" in row.control_addresses
    other = user_make(Role.ENGINEER)
    services.exception_update(exception=record, owner=other, note="Patch Friday", actor=manager)
    (row,) = exception_rows([ExceptionRecord.objects.get(pk=record.pk)])
    assert row.owner == other and not row.owner_is_default and row.record.note == "Patch Friday"
    event = AuditEvent.objects.get(action="exception.updated")
    assert (
        event.details["changed"] == ["owner", "note"] and event.details["owner"] == other.username
    )
    with pytest.raises(ValidationError):
        services.exception_update(exception=record, owner=user_make(Role.AUDITOR), note="",
                                  actor=manager)  # fmt: skip


def test_acceptance_needs_reason_expiry_and_another_managers_approval(four):
    record = ExceptionRecord.objects.get(resource="c")
    engineer = user_make(Role.ENGINEER)
    manager, admin = user_make(Role.COMPLIANCE_MANAGER), user_make(Role.ADMIN)
    today = timezone.now().date()
    with pytest.raises(ValidationError) as err:
        services.acceptance_request(exception=record, reason=" ", expires_on=None, actor=engineer)
    assert set(err.value.message_dict) == {"reason", "expires_on"}
    with pytest.raises(ValidationError):
        yesterday = today - timedelta(days=1)
        services.acceptance_request(
            exception=record, reason="x", expires_on=yesterday, actor=engineer
        )
    closed = ExceptionRecord.objects.get(resource="a")
    with pytest.raises(ValidationError, match="closed"):
        services.acceptance_request(exception=closed, reason="x", expires_on=today, actor=engineer)

    expiry = today + timedelta(days=10)
    acceptance = services.acceptance_request(
        exception=record, reason="Legacy DB retired next month.", expires_on=expiry,
        actor=manager,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="already requested"):
        services.acceptance_request(exception=record, reason="y", expires_on=expiry, actor=admin)
    with pytest.raises(ValidationError, match="compliance manager or an admin"):
        services.acceptance_decide(acceptance=acceptance, approve=True, note="", actor=engineer)
    with pytest.raises(ValidationError, match="other than the requester"):
        services.acceptance_decide(acceptance=acceptance, approve=True, note="", actor=manager)
    assert selectors.exception_rows([record])[0].status == "open"

    services.acceptance_decide(acceptance=acceptance, approve=True, note="ok", actor=admin)
    (row,) = exception_rows([record])
    assert row.status == "accepted" and row.acceptance.decided_by == admin
    assert not row.past_deadline and row.deadline_label == "accepted"
    # Excluded from monitoring: not open, not past deadline.
    assert not exception_list(filters=ExceptionFilters(status="open")).filter(pk=record.pk)
    assert exception_list(filters=ExceptionFilters(status="accepted")).get().pk == record.pk
    assert not exception_list(filters=ExceptionFilters(past_deadline=True)).filter(pk=record.pk)

    # The expiry ends it: the day after, the exception is open (and past deadline) again.
    later = timezone.now() + timedelta(days=11)
    (row,) = exception_rows([record], now=later)
    assert row.status == "open" and row.past_deadline
    assert services.acceptances_expire(today=later.date()) == 1
    assert services.acceptances_expire(today=later.date()) == 0  # recorded once
    actions = list(
        AuditEvent.objects.filter(action__startswith="exception.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["exception.acceptance_requested", "exception.acceptance_approved",
                       "exception.acceptance_expired"]  # fmt: skip


def test_rejection_needs_a_note_and_revocation_ends_acceptance(four):
    record = ExceptionRecord.objects.get(resource="d")
    engineer, manager = user_make(Role.ENGINEER), user_make(Role.COMPLIANCE_MANAGER)
    expiry = timezone.now().date() + timedelta(days=30)
    first = services.acceptance_request(exception=record, reason="r", expires_on=expiry,
                                        actor=engineer)  # fmt: skip
    with pytest.raises(ValidationError):
        services.acceptance_decide(acceptance=first, approve=False, note="", actor=manager)
    services.acceptance_decide(acceptance=first, approve=False, note="Fix it.", actor=manager)
    assert exception_rows([record])[0].status == "open"
    second = services.acceptance_request(exception=record, reason="r2", expires_on=expiry,
                                         actor=engineer)  # fmt: skip
    services.acceptance_decide(acceptance=second, approve=True, note="", actor=manager)
    assert exception_rows([record])[0].status == "accepted"
    services.acceptance_revoke(acceptance=second, actor=manager)
    assert exception_rows([record])[0].status == "open"
    assert AuditEvent.objects.filter(action="exception.acceptance_revoked").count() == 1


def test_open_exceptions_match_current_state_after_real_collections(soc2):
    """The post-ingest hook keeps the register at the chain head, and the open exceptions
    are exactly the FAIL rows of current state (same key: assertion, resource, connection)."""
    from pixaudit.evidence.services.connections import connection_create
    from pixaudit.evidence.services.runs import collection_run_create, collection_run_execute

    for name in ("one", "two"):
        conn = connection_create(name=name, collector_key="demo_inventory", params={})
        for _ in range(2):
            run = collection_run_execute(
                run_id=collection_run_create(connection=conn, trigger="manual").pk
            )
            assert run.status == "succeeded", run.error_message
    from pixaudit.evidence.models import EvidenceItem

    assert ReplayCursor.objects.get(pk=1).seq == EvidenceItem.objects.order_by("-seq")[0].seq
    open_keys = set(
        ExceptionRecord.objects.filter(closed_at__isnull=True).values_list(
            "assertion_id", "resource", "connection_id"
        )
    )
    failing = set(
        LatestResult.objects.filter(status="fail").values_list(
            "assertion_id", "resource", "connection_id"
        )
    )
    assert open_keys == failing and failing


def test_rebuild_command(four, capsys):
    count = ExceptionRecord.objects.count()
    call_command("exceptions_rebuild")
    out = capsys.readouterr().out
    assert "0 exception(s) created, 0 updated, 0 removed" in out
    assert ExceptionRecord.objects.count() == count
    assert AuditEvent.objects.filter(action="exceptions.rebuilt").exists()
    call_command("exceptions_rebuild", "--sync")
    assert "Replayed 0 evidence item(s)" in capsys.readouterr().out


def test_register_reads_take_a_fixed_number_of_queries(soc2):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            rows = exception_rows(exception_list(filters=ExceptionFilters(status="open")))
            [(r.owner, r.controls, r.acceptance, r.record.connection) for r in rows]
        return len(ctx.captured_queries)

    history = History()
    history.day(1, {"r0": "fail"})
    few = count()
    history.day(2, {f"r{n}": "fail" for n in range(40)})
    assert ExceptionRecord.objects.count() == 40
    assert count() == few
