"""Each control's details in the PDF point to its exceptions in the Exceptions chapter (how
many, their register numbers and dates); a tested control without any says so; an untested
control still says only "Not tested: no evidence in the period"."""

from __future__ import annotations

from datetime import date

import pytest

from collectors.base import Finding, Severity, Status
from pixaudit.controls.models import CheckMapping, Control
from pixaudit.exceptions.models import ExceptionRecord
from pixaudit.posture.rollup import coverage_after_ingest
from pixaudit.reports.services import report_pdf_bytes, report_render_now, report_scope_resolve
from tests.exceptions.helpers import MFA, History
from tests.reports.test_report_scope import _pdf_text

pytestmark = pytest.mark.django_db


def _details(text: str, ref: str, following: str) -> str:
    """The text of ``ref``'s section in the Control details chapter."""
    start = text.index("Control details", text.index("Coverage Each control's status"))
    details = text[start:]
    return details[details.index(f"{ref} ") : details.index(f"{following} ")]


def test_control_details_cite_their_exceptions(catalogs, tmp_path):
    cc62 = Control.objects.get(framework__key="soc2-2017", ref="CC6.2")
    CheckMapping.objects.create(assertion_id=MFA, control=cc62, rationale="t")
    history = History()
    for day in range(1, 31):
        item = history.day(
            day,
            {"db-a": "fail" if 5 <= day <= 7 else "pass", "db-b": "fail" if day >= 20 else "pass"},
            extra=[Finding(MFA, "idp", Status.PASS, Severity.HIGH, "MFA on.")],
        )
        coverage_after_ingest(item=item)  # the daily coverage rollup, as ingest writes it
    closed = ExceptionRecord.objects.get(resource="db-a")
    still_open = ExceptionRecord.objects.get(resource="db-b")
    scope = report_scope_resolve(
        framework_key="soc2-2017", start=date(2026, 1, 1), end=date(2026, 1, 30)
    )
    report = report_render_now(scope=scope)
    assert report.status == "succeeded", report.error_message
    text = _pdf_text(report_pdf_bytes(report=report), tmp_path)
    cc61 = _details(text, "CC6.1", "CC6.2")
    assert (
        f"Exceptions in the period: 2 — see Exceptions, #{closed.pk} (2026-01-05 to 2026-01-08, "
        f"3.0 days), #{still_open.pk} (2026-01-20, open)."
    ) in cc61
    assert "Not tested" not in cc61
    cc62_text = _details(text, "CC6.2", "CC6.3")
    assert "Exceptions in the period: none — no check of this control failed" in cc62_text
    cc11 = _details(text, "CC1.1", "CC1.2")
    assert "Not tested: no evidence in the period" in cc11
    assert "Exceptions in the period" not in cc11
    # The register numbers are printed in the Exceptions chapter's table.
    chapter = text[text.rindex("Exceptions Each continuous stretch") :]
    assert f"{closed.pk} CC6.1" in chapter and f"{still_open.pk} CC6.1" in chapter
