"""The report an auditor signs off on: scope statement, categories in scope, narratives,
"Not tested" controls, evidence citations, the dashboard's figures, the audit workbook."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import load_workbook

from pixaudit.controls.models import Control
from pixaudit.evidence.services.manual import manual_evidence_upload
from pixaudit.posture.selectors import framework_posture
from pixaudit.reports.models import ScopeStatement
from pixaudit.reports.periods import Period
from pixaudit.reports.selectors import report_data
from pixaudit.reports.services import report_pdf_bytes, report_render_now
from pixaudit.reports.services_scope import control_narrative_save, scope_statement_save
from pixaudit.reports.workbook import NOT_TESTED, WORKBOOK_PATH
from tests.security.helpers import pdf_make

pytestmark = pytest.mark.django_db

ASSERTION = "We assert that the controls were suitably designed and operated effectively."


def _scope(soc2, manager, **extra):
    values = {
        "system_description": "PixMuse AI's image generation service and its platform.",
        "boundaries": "Production AWS account; the office network is out of scope.",
        "subservice_organisations": "Amazon Web Services (carve-out): hosting.",
        "complementary_user_entity_controls": "Customers manage their own users' access.",
        "management_assertion": ASSERTION,
        "signatory_name": "Jane Doe",
        "signatory_title": "CEO",
        "assertion_date": timezone.now().date(),
        **extra,
    }
    return scope_statement_save(framework=soc2, actor=manager, **values)


def test_scope_statement_versions_and_validation(soc2, manager):
    with pytest.raises(ValidationError) as caught:
        scope_statement_save(framework=soc2, actor=manager, system_description="  ")
    assert "system_description" in caught.value.error_dict
    with pytest.raises(ValidationError) as caught:
        scope_statement_save(framework=soc2, actor=manager, system_description="The service.",
                             management_assertion=ASSERTION)  # fmt: skip
    assert {"signatory_name", "assertion_date"} <= set(caught.value.error_dict)
    with pytest.raises(ValidationError) as caught:
        _scope(soc2, manager, assertion_date=timezone.now().date() + timedelta(days=2))
    assert "assertion_date" in caught.value.error_dict
    first = _scope(soc2, manager)
    assert first.categories == ["security"]
    with pytest.raises(ValidationError, match="Nothing changed"):
        _scope(soc2, manager)
    second = _scope(soc2, manager, privacy=True)
    assert second.categories == ["security", "privacy"]
    assert list(ScopeStatement.objects.values_list("pk", flat=True)) == [first.pk, second.pk]


def test_out_of_scope_categories_leave_the_report_and_the_readiness(soc2, collected, manager):
    def categories(controls):
        return {c.category for c in controls}

    before = framework_posture(framework=soc2)
    assert {"availability", "privacy"} <= categories(c.control for c in before.controls)
    _scope(soc2, manager, availability=True)
    after = framework_posture(framework=soc2)
    assert categories(c.control for c in after.controls) == {"security", "availability"}
    today = timezone.now().date()
    data = report_data(framework=soc2, period=Period(today - timedelta(days=29), today))
    assert categories(s.control for s in data.sections) == {"security", "availability"}
    # The executive summary's figures are the dashboard's.
    assert data.readiness == after.readiness
    assert data.status_rows == after.status_rows
    assert data.in_scope == after.in_scope


def test_summary_figures_match_the_dashboard_with_manual_evidence(soc2, collected, manager):
    today = timezone.now().date()
    manual_evidence_upload(
        upload=SimpleUploadedFile("p.pdf", pdf_make()), file_name="p.pdf", title="Ethics code",
        effective_on=today, recurrence="yearly", control_addresses=["soc2-2017:CC1.1"],
        user=manager,
    )  # fmt: skip
    posture = framework_posture(framework=soc2)
    data = report_data(framework=soc2, period=Period(today - timedelta(days=29), today))
    section = next(s for s in data.sections if s.control.ref == "CC1.1")
    assert section.status == "passing" and section.tested
    assert [m.title for m in section.manual] == ["Ethics code"]
    assert data.status_rows == posture.status_rows
    assert data.readiness == posture.readiness


def test_narratives_are_versioned_and_a_pinned_report_keeps_its_version(soc2, collected, manager):
    control = Control.objects.get(framework=soc2, ref="CC6.1")
    first = control_narrative_save(control=control, text="IT reviews access.", actor=manager)
    with pytest.raises(ValidationError, match="unchanged"):
        control_narrative_save(control=control, text="IT reviews access.", actor=manager)
    with pytest.raises(ValidationError):
        control_narrative_save(control=control, text=" ", actor=manager)
    today = timezone.now().date()
    period = Period(today - timedelta(days=29), today)
    data = report_data(framework=soc2, period=period)
    pin = data.pin()
    second = control_narrative_save(control=control, text="The IdP enforces MFA.", actor=manager)
    rebuilt = report_data(framework=soc2, period=period, pin=pin)
    assert next(s for s in rebuilt.sections if s.control == control).narrative == first
    fresh = report_data(framework=soc2, period=period)
    assert next(s for s in fresh.sections if s.control == control).narrative == second


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    if shutil.which("pdftotext"):
        out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    else:  # pragma: no cover - CI installs poppler-utils (.ci/run)
        from pypdf import PdfReader

        out = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(out.split())


def test_pdf_states_scope_narratives_not_tested_and_cites_evidence(
    soc2, collected, manager, tmp_path
):
    from pixaudit.reports.services import report_scope_resolve

    _scope(soc2, manager)
    control = Control.objects.get(framework=soc2, ref="CC6.1")
    control_narrative_save(control=control, text="Access is reviewed every quarter by IT.",
                           actor=manager)  # fmt: skip
    report = report_render_now(scope=report_scope_resolve(framework_key="soc2-2017"))
    assert report.status == "succeeded", report.error_message
    text = _pdf_text(report_pdf_bytes(report=report), tmp_path)
    assert "Not tested: no evidence in the period" in text
    assert "Exceptions: none" not in text
    assert "Access is reviewed every quarter by IT." in text
    assert "PixMuse AI's image generation service" in text
    assert "Signed: Jane Doe, CEO" in text
    assert "Trust Services categories in scope Security." in text
    last = max(item.seq for item in collected)
    assert f"(evidence #{last})" in text  # a failing result cites its appendix item
    assert "`" not in text and "None" not in text


def test_audit_workbook_in_the_pack(pack_path):
    with zipfile.ZipFile(pack_path) as zf:
        assert WORKBOOK_PATH in zf.namelist()
        sums = zf.read("SHA256SUMS").decode()
        assert f"  {WORKBOOK_PATH}\n" in sums
        book = load_workbook(io.BytesIO(zf.read(WORKBOOK_PATH)))
    assert book.sheetnames == ["Control matrix", "Coverage", "Exceptions", "Evidence index"]
    matrix = book["Control matrix"]
    assert matrix.freeze_panes == "A2"
    assert matrix.auto_filter.ref.startswith("A1:N")
    assert matrix.column_dimensions["B"].width > 20
    rows = {r[0]: r for r in matrix.iter_rows(min_row=2, values_only=True)}
    assert rows["CC1.1"][4] == NOT_TESTED
    assert rows["CC6.1"][4] == "Yes"
    coverage = {r[0]: r for r in book["Coverage"].iter_rows(min_row=2, values_only=True)}
    assert coverage["CC1.1"][2] == NOT_TESTED
    assert coverage["CC6.1"][2].endswith("%") and coverage["CC6.1"][9] >= 1  # in-scope days
    exceptions = list(book["Exceptions"].iter_rows(min_row=2, values_only=True))
    assert exceptions and all("CC6.1" in row[0] for row in exceptions)  # demo's failures
    assert book["Exceptions"].freeze_panes == "A2"
    index = book["Evidence index"]
    assert index.freeze_panes == "A2"
    sources = {r[1] for r in index.iter_rows(min_row=2, values_only=True)}
    assert sources == {"Demo resource inventory (offline)"}  # names, not collector keys
