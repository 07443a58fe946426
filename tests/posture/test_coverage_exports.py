"""The same coverage numbers in the PDF report's Coverage section (its text) and in OSCAL."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader

from pixaudit.posture.coverage import framework_coverage
from pixaudit.reports.services import (
    oscal_export,
    report_pdf_bytes,
    report_render_now,
    report_scope_resolve,
)
from tests.posture import coverage_history as h
from tests.reports.oscal_schema import errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(catalogs, user):
    return h.build(user)


@pytest.fixture
def scope(history):
    return report_scope_resolve(
        framework_key="soc2-2017", start=date(2026, 1, 1), end=date(2026, 3, 31)
    )


def test_pdf_coverage_section_states_the_figures(scope, settings, tmp_path):
    report = report_render_now(scope=scope)
    assert report.status == "succeeded", report.error_message
    reader = PdfReader(io.BytesIO(report_pdf_bytes(report=report)))
    text = " ".join(" ".join((page.extract_text() or "") for page in reader.pages).split())
    section = text[text.index("Coverage Each control's status") :]
    fc = framework_coverage(framework=scope.framework, start=h.START, end=h.END, now=h.NOW)
    expected = f"{100 * (43 + 51) / (90 * len(fc.controls) - 41):.1f}%"
    assert fc.coverage_display == expected
    assert f"Over 90 days, {expected} of in-scope control-days" in section
    table = section[section.index("Risk accepted days Days without evidence") :]
    row = re.search(r"CC6\.1 [^%]*?(\d+\.\d%) (\d+) (\d+) (\d+) (\d+) (\d+) (.*?) CC", table)
    assert row is not None, table[:3000]
    assert row.groups()[:6] == ("87.8%", "43", "5", "1", "41", "0")
    assert row.group(7).startswith("2026-01-30")
    manual = re.search(r"CC4\.1 [^%]*?(\d+\.\d%) (\d+) (\d+) (\d+) (\d+)", table)
    assert manual.groups() == ("56.7%", "51", "0", "39", "0")
    assert "2026-01-01 to 2026-01-19, 2026-03-12 to 2026-03-31" in section
    assert "Not tested: no evidence in the period" in section


def test_oscal_carries_the_same_figures(scope):
    _, results = oscal_export(scope=scope)
    assert errors(results, "assessment-results") == []
    result = results["assessment-results"]["results"][0]
    finding = next(f for f in result["findings"] if f["target"]["target-id"] == "cc6.1")
    props = {p["name"]: p["value"] for p in finding["props"]}
    assert props["coverage"] == "87.8%"
    assert (props["days-passing"], props["days-failing"]) == ("43", "5")
    assert (props["days-without-evidence"], props["days-not-applicable"]) == ("1", "41")
    assert "without evidence: 2026-01-30)" in finding["description"]
    untested = next(f for f in result["findings"] if f["target"]["target-id"] == "cc7.1")
    assert "Not tested: no evidence in the period." in untested["description"]
