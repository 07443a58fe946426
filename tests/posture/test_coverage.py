"""Coverage over a window on a hand-built history with known answers, day by day."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pixaudit.controls.models import Framework
from pixaudit.posture.coverage import DayStatus, control_coverage, framework_coverage
from pixaudit.posture.heatmap import heatmap_svg
from pixaudit.posture.models import CoverageDay
from pixaudit.posture.rollup import coverage_rebuild
from tests.posture import coverage_history as h

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(catalogs, user):
    return h.build(user)


def test_control_days_match_the_known_history(history):
    cov = control_coverage(control=history["CC6.1"], start=h.START, end=h.END, now=h.NOW)
    assert len(cov.days) == 90
    for n in range(1, 91):
        assert cov.days[n - 1] == h.expected_cc61(n), f"day {n}"
    assert cov.ranges(DayStatus.FAILING) == [(h.day(10), h.day(14))]
    assert cov.ranges(DayStatus.STALE) == [(h.day(30), h.day(30))]
    assert cov.days_failing == 5
    assert cov.days_without_evidence == 1
    assert cov.days_not_applicable == 41
    assert cov.days_in_scope == 49
    assert cov.days_passing == 43
    assert cov.coverage_pct == pytest.approx(100 * 43 / 49)
    assert cov.tested


def test_manual_evidence_and_untested_control(history):
    manual = control_coverage(control=history["CC4.1"], start=h.START, end=h.END, now=h.NOW)
    assert [manual.days[n - 1] for n in range(1, 91)] == [h.expected_cc41(n) for n in range(1, 91)]
    assert manual.days_passing == 51
    assert manual.days_without_evidence == 19 + 20
    nothing = control_coverage(control=history["CC7.1"], start=h.START, end=h.END, now=h.NOW)
    assert set(nothing.days) == {DayStatus.NO_EVIDENCE}
    assert not nothing.tested and nothing.coverage_pct == 0.0


def test_days_after_now_have_no_evidence_and_window_order_is_checked(history):
    cov = control_coverage(control=history["CC4.1"], start=h.day(60), end=h.day(75), now=h.at(65))
    assert cov.days[:6] == (DayStatus.MANUAL_VALID,) * 6
    assert set(cov.days[6:]) == {DayStatus.NO_EVIDENCE}
    with pytest.raises(ValueError):
        control_coverage(control=history["CC4.1"], start=h.day(5), end=h.day(4))


def test_window_starting_mid_history_carries_the_state_before_it(history):
    cov = control_coverage(control=history["CC6.1"], start=h.day(12), end=h.day(16), now=h.NOW)
    assert cov.days == ("failing",) * 3 + ("passing",) * 2


def test_framework_rollup_and_query_count_independent_of_window(history):
    soc2 = Framework.objects.get(key="soc2-2017")
    fc = framework_coverage(framework=soc2, start=h.START, end=h.END, now=h.NOW)
    by_ref = {c.control.ref: c for c in fc.controls}
    assert by_ref["CC6.1"].days_failing == 5
    assert fc.days_failing == 5
    assert fc.days_passing == 43 + 51
    assert fc.controls_not_tested == len(fc.controls) - 2
    total = 90 * len(fc.controls)
    assert fc.days_in_scope == total - 41
    assert fc.coverage_pct == pytest.approx(100 * (43 + 51) / (total - 41))
    counts = []
    for end in (h.day(10), h.END):
        with CaptureQueriesContext(connection) as ctx:
            framework_coverage(framework=soc2, start=h.START, end=end, now=h.NOW)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] <= 10  # nine reads + the risk acceptances (one query)


def test_rollup_rebuilt_equals_rollup_written_at_ingest(history):
    fields = ("assertion_id", "day", "status", "end_status", "end_expires_at")
    written = sorted(CoverageDay.objects.values_list(*fields))
    assert len(written) == 5  # runs 1-9, 10-14 (failing), 15-28, 31-89; day 90 alone
    coverage_rebuild()
    assert sorted(CoverageDay.objects.values_list(*fields)) == written


def test_heatmap_has_one_cell_per_day_and_escapes_text(history):
    cov = control_coverage(control=history["CC6.1"], start=h.START, end=h.END, now=h.NOW)
    svg = heatmap_svg(days=cov.days, start=cov.start, title="<CC6.1> & co")
    assert svg.count("data-day=") == 90
    assert "&lt;CC6.1&gt; &amp; co" in svg and "<CC6.1>" not in svg
    assert 'data-day="2026-01-10" data-status="failing"' in svg
    assert "Failing: 5 days" in svg


def test_today_is_judged_now(history):
    """Day 28's evidence expires at 12:00 on day 30 (no collection on days 29-30)."""
    control = history["CC6.1"]
    before = control_coverage(control=control, start=h.day(27), end=h.day(30), now=h.at(30, 10))
    assert before.days == (DayStatus.PASSING,) * 4
    after = control_coverage(control=control, start=h.day(27), end=h.day(30), now=h.at(30, 13))
    assert after.days == (DayStatus.PASSING,) * 3 + (DayStatus.STALE,)
    collected = control_coverage(control=control, start=h.day(31), end=h.day(31), now=h.at(31, 13))
    assert collected.days == (DayStatus.PASSING,)
