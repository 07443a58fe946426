"""Stretches during which a control had no valid evidence, from the day-by-day coverage."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from pixaudit.accounts.models import Role
from pixaudit.exceptions.gaps import control_gaps
from tests.posture.coverage_history import END, NOW, START, build, day
from tests.security.helpers import client_for, engagement_make, invitation_make, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(soc2):
    manager = user_make(Role.COMPLIANCE_MANAGER)
    build(manager)
    return soc2, manager


def _by_ref(gaps):
    out: dict[str, list] = {}
    for gap in gaps:
        out.setdefault(gap.control.ref, []).append(gap)
    return out


def test_gaps_of_the_hand_built_history(history):
    soc2, _ = history
    gaps = _by_ref(control_gaps(framework=soc2, start=START, end=END, now=NOW))
    # CC6.1: evidence of day 28 expired on day 30 (no collection on 29 and 30): one stale day.
    (stale,) = gaps["CC6.1"]
    assert (stale.first, stale.last, stale.days, stale.kinds, stale.open) == (
        day(30), day(30), 1, ("stale",), False)  # fmt: skip
    # CC4.1: nothing before the upload (effective day 20), then expired after day 70.
    before, after = gaps["CC4.1"]
    assert (before.first, before.last, before.kinds, before.open) == (
        day(1), day(19), ("no_evidence",), False)  # fmt: skip
    assert (after.first, after.last, after.days, after.kinds, after.open) == (
        day(71), END, 20, ("manual_expired",), True)  # fmt: skip
    # CC7.1: never any evidence: the whole window, still open.
    (never,) = gaps["CC7.1"]
    assert (never.first, never.last, never.days, never.open) == (START, END, 90, True)


def test_days_after_today_are_not_gaps(history):
    soc2, _ = history
    gaps = _by_ref(control_gaps(framework=soc2, start=START, end=END, now=NOW.replace(month=2)))
    (never,) = gaps["CC7.1"]
    assert never.last == NOW.replace(month=2).date() and never.open


def test_register_and_engagement_show_gaps_and_the_workbook_lists_them(history):
    soc2, manager = history
    client = client_for(manager)
    query = f"?framework=soc2-2017&since={START}&until={END}&control=soc2-2017:CC4.1"
    page = client.get(reverse("exceptions:register") + query).content.decode()
    assert "Controls without valid evidence" in page
    assert "soc2-2017:CC4.1" in page and ">2026-03-12</time>" in page  # day 71
    assert "manual evidence expired" in page and "soc2-2017:CC7.1</a>" not in page
    response = client.get(reverse("exceptions:export", args=["xlsx"]) + query)
    sheet = load_workbook(io.BytesIO(response.content))["controls_without_evidence"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[3], r[4], r[5]) for r in rows] == [
        ("CC4.1", "2026-01-01", "2026-01-19", 19),
        ("CC4.1", "2026-03-12", "2026-03-31", 20),
    ]
    assert sheet.freeze_panes == "A2"
    # The auditor sees the gaps of the engagement's window only.
    engagement = engagement_make(framework=soc2, start=day(25), end=day(35))
    auditor = user_make(Role.AUDITOR)
    invitation_make(engagement=engagement, user=auditor)
    url = reverse("exceptions:engagement_register", args=[engagement.pk])
    page = client_for(auditor, verified=False).get(url).content.decode()
    assert "soc2-2017:CC6.1" in page and ">2026-01-30</time>" in page  # the stale day 30
    assert "soc2-2017:CC4.1" not in page.split('id="gaps"')[1]  # manual valid days 20-70


def test_report_lists_controls_without_valid_evidence(history):
    from pixaudit.reports.periods import Period
    from pixaudit.reports.rendering import report_html
    from pixaudit.reports.selectors import report_data

    soc2, _ = history
    html = report_html(report_data(framework=soc2, period=Period(START, END), now=NOW))
    chapter = html[html.index('id="exceptions"') :]
    chapter = chapter[: chapter.index("</section>")]
    assert "Controls without valid evidence" in chapter
    assert "<td>CC6.1 " in chapter and "<td>2026-01-30</td>" in chapter
    assert '<td class="num">90</td>' in chapter  # CC7.1, never any evidence
    assert "bob" in chapter and '<td class="num">5.0</td>' in chapter  # failing days 10-14
