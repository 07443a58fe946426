"""Report content (HTML), one real PDF render, watermarking, and the job through the queue."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from pixaudit.controls.models import Control
from pixaudit.reports.models import Report, ReportStatus
from pixaudit.reports.rendering import report_html
from pixaudit.reports.selectors import report_data
from pixaudit.reports.services import (
    report_pdf_bytes,
    report_pdf_watermarked,
    report_render_now,
    report_request,
    report_scope_resolve,
)


@pytest.mark.smoke
def test_html_has_every_section_and_control(scope, collected):
    data = report_data(framework=scope.framework, period=scope.period)
    html = report_html(data)
    for anchor in ("cover", "contents", "summary", "scope", "matrix", "controls", "appendix"):
        assert f'id="{anchor}"' in html
    for title in ("Executive summary", "Statement of Applicability", "Control matrix",
                  "Control details", "Appendix: evidence index"):  # fmt: skip
        assert title in html
    controls = Control.objects.filter(framework=scope.framework, assessable=True).exclude(
        kind=Control.Kind.GROUP
    )
    assert controls.count() == 61
    for control in controls:
        assert f'id="c-{control.oscal_id}"' in html, control.ref
    # Cover facts, thresholds, failing resources and the evidence index.
    assert data.chain_head_hash in html and "PixMuse AI" in html
    assert "<code>max_days</code> = 90" in html
    assert "bucket-logs" in html and "Enable encryption at rest" in html
    for item in collected:
        assert item.sha256 in html
    # CSP: the preview has no inline script or style.
    assert "<script" not in html and "style=" not in html and "<style" not in html


def test_period_end_status_and_history(scope, collected):
    data = report_data(framework=scope.framework, period=scope.period)
    cc61 = next(s for s in data.sections if s.control.ref == "CC6.1")
    assert cc61.status == "failing"
    encryption = next(
        a for a in cc61.assertions if a.assertion_id == "demo_inventory.encryption_at_rest"
    )
    # The end of the period counts the last collection only, not both.
    assert encryption.counts == {"pass": 2, "fail": 1}
    assert (encryption.collections, encryption.collections_failing) == (2, 2)
    assert [f.resource for f in encryption.failing] == ["bucket-logs"]
    assert len(data.evidence) == 2 and data.evidence[0].controls[0] == "CC6.1"


def test_real_pdf_render_with_bookmarks_and_watermark(scope, collected):
    report = report_render_now(scope=report_scope_resolve(framework_key="soc2-2017"))
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    pdf = report_pdf_bytes(report=report)
    assert pdf.startswith(b"%PDF")
    import hashlib

    assert hashlib.sha256(pdf).hexdigest() == report.sha256 and report.size == len(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == report.page_count >= 10
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    for title in ("Contents", "Executive summary", "Control matrix", "Appendix: evidence index"):
        assert title in titles
    assert any(isinstance(o, list) for o in reader.outline)  # nested group/control bookmarks
    first = reader.pages[0].extract_text()
    assert "Evidence chain head" in first and report.chain_head_hash[:20] in first
    assert "Page 2 of" in reader.pages[1].extract_text()

    stamped = report_pdf_watermarked(report=report, viewer_label="Avery Auditor (Acme LLP)")
    stamped_reader = PdfReader(io.BytesIO(stamped))
    assert len(stamped_reader.pages) == len(reader.pages)
    assert len(stamped_reader.outline) == len(reader.outline)
    for page in (stamped_reader.pages[0], stamped_reader.pages[-1]):
        assert "Avery Auditor (Acme LLP)" in page.extract_text()


@pytest.mark.smoke
def test_report_job_through_the_queue(scope, collected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = report_request(scope=scope)
    report = Report.objects.get(pk=report.pk)
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    assert report.progress == 100 and report.progress_message == "Done"
    assert len(report.sha256) == 64 and report.page_count > 0
    assert report.job_id == f"report-{report.pk}"
    assert report.started_at <= report.finished_at
    assert report.chain_head_seq == max(i.seq for i in collected)


def test_failed_render_is_recorded(scope, monkeypatch):
    from pixaudit.reports import services

    def boom(*args, **kwargs):
        raise RuntimeError("layout exploded")

    monkeypatch.setattr(services, "report_pdf", boom)
    report = services.report_render_now(scope=scope)
    assert report.status == ReportStatus.FAILED
    assert "layout exploded" in report.error_message and not report.sha256
