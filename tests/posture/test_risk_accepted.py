"""Risk-accepted exceptions change coverage and posture: while an acceptance is in force the
failure it accepts is "excluded from monitoring (risk accepted)", a distinct day status kept
out of the coverage figure's denominator and out of readiness; when it expires, the
failure counts again. Same figure on the coverage page and in the PDF text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse

from pixaudit.accounts.models import Role
from pixaudit.controls.models import CheckMapping, Control
from pixaudit.exceptions.models import ExceptionRecord
from pixaudit.exceptions.services import acceptance_decide, acceptance_request
from pixaudit.posture.coverage import control_coverage, framework_coverage
from pixaudit.posture.heatmap import STATUS_COLOURS, heatmap_svg
from pixaudit.posture.selectors import ControlStatus, control_posture, framework_posture
from pixaudit.reports.services import report_pdf_bytes, report_render_now, report_scope_resolve
from tests.posture import coverage_history as h
from tests.reports.test_report_scope import _pdf_text
from tests.security.helpers import client_for, user_make

pytestmark = pytest.mark.django_db

ASSERTION = "acc_synth.check"
START, END = date(2026, 1, 1), date(2026, 1, 31)


def at(n: int, hour: int = 12) -> datetime:
    return datetime.combine(START + timedelta(days=n - 1), time(hour), tzinfo=UTC)


def expected(n: int) -> str:
    """CC6.1 day by day: bob fails days 5-25 (his acceptance approved on day 9, expiring
    day 20), carol fails days 15-16 (never accepted)."""
    if 9 <= n <= 20 and n not in (15, 16):
        return "risk_accepted"
    if 5 <= n <= 25:
        return "failing"
    return "passing"


class Story:
    """CC6.1's history, collected day by day at 12:00 (``upto`` appends through that day)."""

    def __init__(self) -> None:
        self.control = Control.objects.get(framework__key="soc2-2017", ref="CC6.1")
        CheckMapping.objects.create(assertion_id=ASSERTION, control=self.control, rationale="t")
        self.engineer = user_make(Role.ENGINEER)
        self.manager = user_make(Role.COMPLIANCE_MANAGER)
        self.done = 0

    def upto(self, last: int) -> None:
        for n in range(self.done + 1, last + 1):
            results = {
                "alice": "pass",
                "bob": "fail" if 5 <= n <= 25 else "pass",
                "carol": "fail" if n in (15, 16) else "pass",
            }
            h.ingest(at(n), results, key="acc_synth", assertion=ASSERTION)
            if n == 8:  # asked for on day 8, approved on day 9, in force through day 20
                bob = ExceptionRecord.objects.get(resource="bob", closed_at__isnull=True)
                with time_machine.travel(at(8, 13), tick=False):
                    self.request = acceptance_request(
                        exception=bob, reason="Legacy host, replaced Q1.",
                        expires_on=at(20).date(), actor=self.engineer,
                    )  # fmt: skip
            if n == 9:
                with time_machine.travel(at(9, 15), tick=False):
                    acceptance_decide(
                        acceptance=self.request, approve=True, note="", actor=self.manager
                    )
        self.done = last


@pytest.fixture
def story(catalogs):
    return Story()


@pytest.fixture
def accepted(story):
    story.upto(31)
    return story.control, story.manager


def test_coverage_day_by_day(accepted):
    control, _ = accepted
    coverage = control_coverage(control=control, start=START, end=END, now=at(31, 18))
    assert list(coverage.days) == [expected(n) for n in range(1, 32)]
    assert (coverage.days_passing, coverage.days_failing, coverage.days_risk_accepted) == (
        10, 11, 10,
    )  # fmt: skip
    assert coverage.days_in_scope == 21  # 31 days less the 10 risk-accepted ones
    assert coverage.coverage_display == "47.6%"
    assert coverage.ranges("risk_accepted") == [
        (date(2026, 1, 9), date(2026, 1, 14)), (date(2026, 1, 17), date(2026, 1, 20)),
    ]  # fmt: skip
    svg = heatmap_svg(days=coverage.days, start=START, title="CC6.1")
    assert "Excluded from monitoring (risk accepted): 10 days" in svg
    assert STATUS_COLOURS["risk_accepted"] in svg
    fc = framework_coverage(framework=control.framework, start=START, end=END, now=at(31, 18))
    assert fc.days_risk_accepted == 10


def test_posture_while_accepted_and_after_expiry(story):
    control, framework = story.control, story.control.framework
    # Day 12: bob's failure is accepted, nothing else fails: excluded from readiness.
    story.upto(12)
    with time_machine.travel(at(12, 18), tick=False):
        assert control_posture(control=control).status == ControlStatus.RISK_ACCEPTED
        posture = framework_posture(framework=framework)
        assert posture.counts[ControlStatus.RISK_ACCEPTED] == 1
        excluded = 1 + posture.counts[ControlStatus.NOT_APPLICABLE]
        assert posture.in_scope == posture.assessable - excluded
        passing = posture.counts[ControlStatus.PASSING]
        assert posture.readiness == pytest.approx(100.0 * passing / posture.in_scope)
        client = client_for(user_make(Role.ENGINEER))
        page = client.get(reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"]))
        assert "Excluded (risk accepted)" in page.content.decode()
    # Day 15: carol fails too (not accepted): failing.
    story.upto(15)
    with time_machine.travel(at(15, 18), tick=False):
        assert control_posture(control=control).status == ControlStatus.FAILING
    # Day 21: the acceptance expired after day 20: bob's failure counts again.
    story.upto(21)
    with time_machine.travel(at(21, 18), tick=False):
        assert control_posture(control=control).status == ControlStatus.FAILING
        assert framework_posture(framework=framework).counts[ControlStatus.RISK_ACCEPTED] == 0


def test_same_figure_on_the_page_and_in_the_pdf(accepted, tmp_path):
    _, manager = accepted
    client = client_for(manager)
    url = reverse("dashboard:framework_coverage", args=["soc2-2017"])
    page = client.get(url, {"cov-start": "2026-01-01", "cov-end": "2026-01-31"}).content.decode()
    row = page[page.index('data-ref="CC6.1"') :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells == ["47.6%", "10", "11", "0", "0", "0", "10"]
    assert "10 excluded from monitoring (risk accepted)" in page
    scope = report_scope_resolve(framework_key="soc2-2017", start=START, end=END)
    report = report_render_now(scope=scope)
    assert report.status == "succeeded", report.error_message
    text = _pdf_text(report_pdf_bytes(report=report), tmp_path)
    chapter = text[text.index("Coverage Each control's status") :]
    assert "10 excluded from monitoring (risk accepted)" in chapter
    # The table's header cells wrap by column width, so the extracted text may interleave
    # their words ("Days Not Risk Days Passing ..."): check the words, not the phrase.
    table = chapter[chapter.index("One row per control, one column per day") :]
    header = table[: table.index("CC1.1 ")]
    assert {"Risk", "accepted", "days"} <= set(header.split()), header
    match = re.search(r"CC6\.1 [^%]*?(\d+\.\d%) (\d+) (\d+) (\d+) (\d+) (\d+)", table)
    assert match is not None, table[:2000]
    assert match.groups() == ("47.6%", "10", "11", "0", "0", "10")
    # The heatmap legend is SVG text: pypdf extracts it, pdftotext does not.
    import io

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(report_pdf_bytes(report=report))).pages
    legend = " ".join(" ".join((p.extract_text() or "").split()) for p in pages)
    assert "Excluded from monitoring (risk accepted): 10 days" in legend


def test_same_figure_in_the_api(accepted):
    """The REST coverage output counts the risk-accepted days per control and per framework
    with the page's definition (one ``_Counters``)."""
    from tests.api.helpers import api_client, token_for

    _, manager = accepted
    client = api_client(token_for(manager, ["read"]))
    url = "/api/v1/frameworks/soc2-2017/coverage/?start=2026-01-01&end=2026-01-31"
    with time_machine.travel(at(31, 18), tick=False):
        body = client.get(url).json()
        page = (
            client_for(manager)
            .get(
                reverse("dashboard:framework_coverage", args=["soc2-2017"]),
                {"cov-start": "2026-01-01", "cov-end": "2026-01-31"},
            )
            .content.decode()
        )
    row = next(c for c in body["controls"] if c["ref"] == "CC6.1")
    assert (row["days_passing"], row["days_failing"], row["days_risk_accepted"]) == (10, 11, 10)
    assert row["days_in_scope"] == 21 and f"{row['coverage_pct']:.1f}%" == "47.6%"
    assert row["days"].count("risk_accepted") == 10
    assert body["days_risk_accepted"] == sum(c["days_risk_accepted"] for c in body["controls"])
    assert body["days_risk_accepted"] == 10
    assert f"{body['days_risk_accepted']} excluded from monitoring (risk accepted)" in page


def test_readiness_snapshot_states_and_stores_the_one_definition(story):
    """The snapshot model's help text states the readiness the dashboard computes, and the
    snapshot taken while a failure is accepted stores exactly that figure."""
    from pixaudit.posture.models import ReadinessSnapshot
    from pixaudit.posture.services import readiness_snapshot_take

    field = ReadinessSnapshot._meta.get_field("readiness")
    assert field.help_text == "passing / (assessable - not applicable - risk accepted), 0..100"
    story.upto(12)
    with time_machine.travel(at(12, 18), tick=False):
        snap = readiness_snapshot_take(framework=story.control.framework)
    counts = snap.counts
    assert counts[ControlStatus.RISK_ACCEPTED] == 1
    in_scope = (
        snap.assessable - counts[ControlStatus.NOT_APPLICABLE] - counts[ControlStatus.RISK_ACCEPTED]
    )
    assert snap.readiness == round(100.0 * counts[ControlStatus.PASSING] / in_scope, 2)
    assert in_scope == snap.assessable - counts[ControlStatus.NOT_APPLICABLE] - 1
