"""Control status rules, overrides, readiness, and a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pixaudit.controls.services import mapping_override_create
from pixaudit.posture import selectors
from pixaudit.posture.selectors import ControlStatus
from pixaudit.posture.services import applicability_decide

from .factories import make_evidence, make_result, map_assertion

pytestmark = pytest.mark.django_db


def status_of(framework, control):
    posture = selectors.framework_posture(framework=framework)
    return next(c for c in posture.controls if c.control.pk == control.pk)


@pytest.mark.smoke
def test_each_status(soc2, soc2_controls, user):
    passing, failing, error, warning, stale, empty, unmapped, excluded = soc2_controls[:8]
    fresh = make_evidence()
    old = make_evidence(collected_at=timezone.now() - timedelta(days=3))
    for control, status in [
        (passing, "pass"),
        (failing, "fail"),
        (error, "error"),
        (warning, "warn"),
        (excluded, "fail"),
    ]:
        map_assertion(f"synth.{control.ref}", control)
        make_result(fresh, f"synth.{control.ref}", "r1", "pass")
        make_result(fresh, f"synth.{control.ref}", "r2", status)
    map_assertion("synth.stale", stale)
    make_result(old, "synth.stale", "r1", "pass")
    map_assertion("synth.none", empty)  # mapped, but nothing collected
    applicability_decide(
        control=excluded, applicable=False, justification="No such thing", user=user
    )

    posture = selectors.framework_posture(framework=soc2)
    got = {c.control.pk: c.status for c in posture.controls}
    assert got[passing.pk] == ControlStatus.PASSING
    assert got[failing.pk] == ControlStatus.FAILING
    assert got[error.pk] == ControlStatus.ERROR  # failure is data: never passing
    assert got[warning.pk] == ControlStatus.WARNING
    assert got[stale.pk] == ControlStatus.STALE
    assert got[empty.pk] == ControlStatus.NO_EVIDENCE
    assert got[unmapped.pk] == ControlStatus.NO_EVIDENCE
    assert got[excluded.pk] == ControlStatus.NOT_APPLICABLE
    # manual_pending is reserved until manual evidence exists: nothing computes it.
    assert posture.counts[ControlStatus.MANUAL_PENDING] == 0
    assert posture.assessable == len(soc2_controls)
    assert posture.in_scope == len(soc2_controls) - 1
    assert posture.readiness == pytest.approx(100 / (len(soc2_controls) - 1))


def test_stale_failure_stays_failing_but_is_flagged(soc2, soc2_controls):
    control = soc2_controls[0]
    map_assertion("synth.x", control)
    make_result(
        make_evidence(collected_at=timezone.now() - timedelta(days=2)), "synth.x", "r", "fail"
    )
    item = status_of(soc2, control)
    assert (item.status, item.stale) == (ControlStatus.FAILING, True)


def test_one_expired_assertion_makes_the_control_stale(soc2, soc2_controls):
    control = soc2_controls[0]
    map_assertion("fresh.a", control)
    map_assertion("old.a", control)
    make_result(make_evidence(collector_key="fresh"), "fresh.a", "r", "pass")
    old = make_evidence(collector_key="old", collected_at=timezone.now() - timedelta(days=5))
    make_result(old, "old.a", "r", "pass")
    assert status_of(soc2, control).status == ControlStatus.STALE


def test_latest_applicability_decision_wins(soc2, soc2_controls, user):
    control = soc2_controls[0]
    map_assertion("synth.a", control)
    make_result(make_evidence(), "synth.a", "r", "pass")
    applicability_decide(control=control, applicable=False, justification="Out of scope", user=user)
    assert status_of(soc2, control).status == ControlStatus.NOT_APPLICABLE
    applicability_decide(control=control, applicable=True, user=user)
    assert status_of(soc2, control).status == ControlStatus.PASSING


def test_mapping_overrides_apply(soc2, soc2_controls, user):
    declared, added = soc2_controls[:2]
    map_assertion("synth.a", declared)
    make_result(make_evidence(), "synth.a", "r", "fail")
    assert status_of(soc2, declared).status == ControlStatus.FAILING
    mapping_override_create(
        assertion_id="synth.a", control=declared, action="remove", reason="Not relevant", user=user
    )
    mapping_override_create(
        assertion_id="synth.a", control=added, action="add", reason="Covers it", user=user
    )
    assert status_of(soc2, declared).status == ControlStatus.NO_EVIDENCE
    assert status_of(soc2, added).status == ControlStatus.FAILING


def test_top_failing_orders_by_severity_then_failing_count(soc2, soc2_controls):
    low_many, high_one, high_two = soc2_controls[:3]
    ev = make_evidence()
    for control, severity, n in [
        (low_many, "low", 5),
        (high_one, "high", 1),
        (high_two, "high", 2),
    ]:
        map_assertion(f"synth.{control.ref}", control)
        for i in range(n):
            make_result(ev, f"synth.{control.ref}", f"r{i}", "fail", severity)
    top = selectors.framework_posture(framework=soc2).top_failing()
    assert [c.control.pk for c in top] == [high_two.pk, high_one.pk, low_many.pk]
    assert top[0].failing_results == 2 and top[0].worst_severity == "high"


def test_stale_next_lists_soonest_expiry_first(soc2, soc2_controls):
    a, b = soc2_controls[:2]
    map_assertion("slow.a", a)
    map_assertion("fast.a", b)
    make_result(
        make_evidence(collector_key="slow", max_age=timedelta(days=7)), "slow.a", "r", "pass"
    )
    make_result(
        make_evidence(collector_key="fast", max_age=timedelta(hours=2)), "fast.a", "r", "pass"
    )
    nxt = selectors.framework_posture(framework=soc2).stale_next()
    assert [c.control.pk for c in nxt] == [b.pk, a.pk]


def _seed(controls, per_control: int):
    ev = make_evidence()
    for control in controls:
        for k in range(2):
            assertion = f"synth.{control.ref}.{k}"
            map_assertion(assertion, control)
            for i in range(per_control):
                make_result(
                    ev, assertion, f"res-{i}", "fail" if i % 3 == 0 else "pass", history=False
                )


def _count_queries(framework) -> int:
    with CaptureQueriesContext(db_connection) as ctx:
        posture = selectors.framework_posture(framework=framework)
        posture.top_failing()
        posture.stale_next()
        _ = posture.counts, posture.readiness
    return len(ctx.captured_queries)


@pytest.mark.smoke
def test_query_count_does_not_grow_with_data(soc2, soc2_controls, django_assert_max_num_queries):
    _seed(soc2_controls[:1], per_control=2)
    # six reads plus the risk acceptances in force (exceptions.selectors.accepted_failures)
    with django_assert_max_num_queries(7):
        selectors.framework_posture(framework=soc2)
    small = _count_queries(soc2)
    _seed(soc2_controls[1:50], per_control=6)
    with django_assert_max_num_queries(7):
        posture = selectors.framework_posture(framework=soc2)
    assert posture.counts[ControlStatus.FAILING] == 50
    assert _count_queries(soc2) == small


def test_control_posture_matches_framework_posture(soc2, soc2_controls):
    control = soc2_controls[3]
    map_assertion("synth.a", control)
    make_result(make_evidence(), "synth.a", "r", "error")
    assert selectors.control_posture(control=control).status == ControlStatus.ERROR


def test_posture_filter(soc2, soc2_controls):
    map_assertion("synth.a", soc2_controls[0])
    make_result(make_evidence(), "synth.a", "r", "fail")
    posture = selectors.framework_posture(framework=soc2)
    assert [c.control for c in selectors.posture_filter(posture, status="failing")] == [
        soc2_controls[0]
    ]
    found = selectors.posture_filter(posture, q="cc6.1")
    assert [c.control.ref for c in found] == ["CC6.1"]


def test_timeline_counts_the_controls_results_per_item_within_the_period(soc2_controls):
    ids = ["synth.a"]
    old = make_evidence(collected_at=timezone.now() - timedelta(days=40))
    new = make_evidence()
    make_result(old, "synth.a", "r", "pass", latest=False)
    make_result(new, "synth.a", "r", "fail")
    make_result(new, "synth.other", "r", "pass")
    timeline = selectors.control_timeline(assertion_ids=ids)
    assert [(e.item.pk, e.status) for e in timeline] == [
        (new.pk, ControlStatus.FAILING),
        (old.pk, ControlStatus.PASSING),
    ]
    recent = selectors.control_timeline(assertion_ids=ids, since=timezone.now() - timedelta(days=7))
    assert [e.item.pk for e in recent] == [new.pk]
    assert recent[0].counts == {"fail": 1}
