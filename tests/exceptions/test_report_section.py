"""The report's "Exceptions" chapter: dates, durations, evidence numbers, pinned head."""

from __future__ import annotations

import pytest

from pixaudit.reports.periods import Period
from pixaudit.reports.rendering import report_html
from pixaudit.reports.selectors import report_data
from tests.exceptions.helpers import History, day_at

pytestmark = pytest.mark.django_db


def _chapter(html: str) -> str:
    start = html.index('<section class="chapter" id="exceptions">')
    return html[start : html.index("</section>", start)]


def test_report_lists_exceptions_of_the_period(soc2):
    history = History()
    for day in range(1, 31):
        history.day(day, {"db-1": "fail" if 10 <= day <= 14 else "pass",
                          "db-2": "fail" if day >= 25 else "pass"})  # fmt: skip
    period = Period(day_at(1).date(), day_at(30).date())
    chapter = _chapter(report_html(report_data(framework=soc2, period=period, now=day_at(31))))
    assert "<code>db-1</code>" in chapter and "<code>db-2</code>" in chapter
    assert "2026-01-10 06:00" in chapter and "2026-01-15 06:00" in chapter
    assert '<td class="num">5.0</td>' in chapter  # days 10-14: five days
    assert f"{history.items[10].seq} → {history.items[15].seq}" in chapter
    assert "CC6.1" in chapter and "within deadline" in chapter
    # db-2 opened on day 25, 06:00 and is open at the end of the period (midnight after
    # day 30): 5 days 18 hours.
    assert '<td class="num">5.8</td>' in chapter


def test_report_before_the_failures_and_pinned_head(soc2):
    history = History()
    for day in range(1, 6):
        history.day(day, {"db": "fail" if day >= 3 else "pass"})
    early = Period(day_at(1).date(), day_at(2).date())
    chapter = _chapter(report_html(report_data(framework=soc2, period=early, now=day_at(3))))
    assert "No automated check of this framework failed" in chapter
    # A report read up to day 4's item shows the exception open even though day 5 exists
    # later in the chain (the evidence it was rendered from ends there).
    history.day(6, {"db": "pass"})
    data = report_data(framework=soc2, period=Period(day_at(1).date(), day_at(6).date()),
                       now=day_at(7))  # fmt: skip
    data.chain_head_seq = history.items[4].seq
    chapter = _chapter(report_html(data))
    assert "<td>open</td>" in chapter
