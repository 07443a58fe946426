"""One meaning of "tested in the period": the report's control details and its Coverage
chapter agree, including evidence collected before the period that is still fresh at its
start ("carried into the period")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from pixaudit.controls.models import CheckMapping, Control
from pixaudit.reports.selectors import report_data
from pixaudit.reports.services import report_pdf_bytes, report_render_now, report_scope_resolve
from tests.posture import coverage_history as h
from tests.reports.test_report_scope import _pdf_text as pdf_text

pytestmark = pytest.mark.django_db

START, END = date(2026, 1, 1), date(2026, 1, 31)
NOW = datetime(2026, 2, 5, 12, tzinfo=UTC)


@pytest.fixture
def carried(catalogs):
    """CC7.2: its only evidence collected 1 day before the period start, fresh for 7 days.
    CC7.3: its only evidence collected 10 days before, fresh for 7 days (expired before)."""
    controls = {
        c.ref: c
        for c in Control.objects.filter(framework__key="soc2-2017", ref__in=["CC7.2", "CC7.3"])
    }
    for ref, assertion in (("CC7.2", "carry_synth.fresh"), ("CC7.3", "carry_synth.expired")):
        CheckMapping.objects.create(assertion_id=assertion, control=controls[ref], rationale="t")
    h.ingest(datetime(2025, 12, 31, 12, tzinfo=UTC), {"app": "pass"}, key="carry_synth",
             assertion="carry_synth.fresh", valid_for=timedelta(days=7))  # fmt: skip
    h.ingest(datetime(2025, 12, 22, 12, tzinfo=UTC), {"app": "pass"}, key="carry_synth",
             assertion="carry_synth.expired", valid_for=timedelta(days=7))  # fmt: skip
    return report_scope_resolve(framework_key="soc2-2017", start=START, end=END)


def test_control_details_and_coverage_agree_on_tested(carried):
    data = report_data(framework=carried.framework, period=carried.period, now=NOW)
    coverage = {c.control.ref: c for c in data.coverage.controls}
    sections = {s.control.ref: s for s in data.sections}
    assert set(sections) == set(coverage)
    for ref, section in sections.items():
        assert section.tested == coverage[ref].tested, ref
    fresh = sections["CC7.2"]
    assert fresh.evidence == [] and fresh.manual == []  # nothing collected in the period
    # Fresh at the period start: 2026-01-01 .. 2026-01-06 passing (expires 01-07 12:00).
    assert coverage["CC7.2"].days_passing == 6 and coverage["CC7.2"].tested
    assert fresh.tested and fresh.carried_only
    assert fresh not in data.untested_sections
    expired = sections["CC7.3"]
    assert not expired.tested and not coverage["CC7.3"].tested
    assert expired in data.untested_sections
    assert data.coverage.controls_not_tested == len(data.untested_sections)


def test_pdf_says_the_same_in_both_chapters(carried, tmp_path):
    report = report_render_now(scope=carried)
    assert report.status == "succeeded", report.error_message
    text = pdf_text(report_pdf_bytes(report=report), tmp_path)
    chapter_at = text.index("Coverage Each control's status")
    details = text[text.index("Control details", chapter_at) :]
    fresh = details[details.index("CC7.2 ") : details.index("CC7.3 ")]
    assert "Tested by evidence carried into the period" in fresh
    assert "Not tested" not in fresh
    expired = details[details.index("CC7.3 ") :][:400]
    assert "Not tested: no evidence in the period" in expired
    chapter = text[chapter_at : text.index("Control details", chapter_at)]
    # The table comes after the chart (whose row labels name the controls too): its rows are
    # the last mentions. Column headers wrap differently with pdftotext and pypdf.
    fresh_at = chapter.rindex("CC7.2 ")
    cov_fresh = chapter[fresh_at : chapter.index("CC7.3 ", fresh_at)]
    assert "Not tested" not in cov_fresh and "%" in cov_fresh
    expired_at = chapter.rindex("CC7.3 ")
    row = chapter[expired_at : chapter.index("CC7.4 ", expired_at)]
    # pdftotext -layout interleaves a wrapped cell with its neighbours: words in order.
    assert re.search(r"Not tested:.*no evidence.*in the period", row), row
