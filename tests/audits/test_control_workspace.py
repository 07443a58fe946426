"""The engagement by control, sample test results and the sample workbook."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits.models import SampleResult
from pixaudit.audits.sample_results import sample_result_record
from pixaudit.audits.selectors_controls import engagement_control_get, engagement_controls
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


def _controls(world):
    (fw,) = engagement_controls(engagement=world.engagement)
    return {c.control.ref: c for c in fw.controls}, fw


def test_engagement_is_organised_by_control(world):
    by_ref, fw = _controls(world)
    cc61 = by_ref["CC6.1"]
    # CC6.1: manual evidence uploaded in the window, A's request and sample.
    assert cc61.tested
    assert [m.title for m in cc61.section.manual] == ["Access policy"]
    assert [r.pk for r in cc61.requests] == [world.request.pk]
    assert [s.pk for s in cc61.samples] == [world.sample.pk]
    # B's request and sample never show in A's engagement.
    assert world.other_request.pk not in [r.pk for c in fw.controls for r in c.requests]
    # A control nothing speaks to is "not tested", and counted.
    assert not by_ref["CC1.1"].tested
    assert fw.not_tested == sum(1 for c in fw.controls if not c.tested)
    assert fw.not_tested > 0


def test_control_pages_show_names_and_not_tested(world):
    client = client_for(world.auditor, verified=False)
    listing = client.get(reverse("audits:control_list", args=[world.engagement.pk]))
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "Not tested: no evidence in the period" in text
    assert "Logical and physical access" in text or "CC6.1" in text
    page = client.get(
        reverse("audits:control_detail", args=[world.engagement.pk, "soc2-2017", "CC6.1"])
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert "Access policy" in body and "Access reviews Q1" in body
    assert "Days of the window" in body  # the sample's population, by name
    assert "Not tested: no evidence in the period" not in body
    assert "demo_inventory" not in body  # names, never collector keys
    untested = client.get(
        reverse("audits:control_detail", args=[world.engagement.pk, "soc2-2017", "CC1.1"])
    )
    assert "Not tested: no evidence in the period" in untested.content.decode()
    # A control outside the engagement's frameworks is a 404 like a missing one.
    missing = client.get(
        reverse("audits:control_detail", args=[world.engagement.pk, "iso27001-2022", "A.5.1"])
    )
    assert missing.status_code == 404


def test_workspace_control_get_refuses_unknown_refs(world):
    from pixaudit.controls.models import Control

    with pytest.raises(Control.DoesNotExist):
        engagement_control_get(engagement=world.engagement, framework_key="soc2-2017", ref="X9")


def test_sample_result_history_and_latest(world):
    sample = world.sample
    again = sample_result_record(
        sample=sample, position=1, outcome="exception", note="Approval came after the change",
        actor=world.auditor,
    )  # fmt: skip
    workspace = engagement_control_get(
        engagement=world.engagement, framework_key="soc2-2017", ref="CC6.1"
    )
    (summary,) = workspace.samples
    assert summary.items[0].result.pk == again.pk
    assert (summary.passed, summary.exceptions, summary.untested) == (0, 1, 4)
    assert SampleResult.objects.filter(sample=sample, position=1).count() == 2
    assert AuditEvent.objects.filter(action="sample.result_recorded").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"position": 0, "outcome": "passed", "note": ""}, "position"),
        ({"position": 6, "outcome": "passed", "note": ""}, "position"),
        ({"position": 1, "outcome": "maybe", "note": ""}, "outcome"),
        ({"position": 1, "outcome": "exception", "note": "  "}, "note"),
    ],
)
def test_bad_results_are_refused(world, kwargs, field):
    before = SampleResult.objects.count()
    with pytest.raises(ValidationError) as caught:
        sample_result_record(sample=world.sample, actor=world.auditor, **kwargs)
    assert field in caught.value.error_dict
    assert SampleResult.objects.count() == before


def test_attachment_gets_the_manual_evidence_checks(world, settings):
    # A file whose name says PDF but whose bytes are text: refused, nothing stored.
    before = SampleResult.objects.count()
    with pytest.raises(ValidationError, match="named .pdf but its content is TEXT") as caught:
        sample_result_record(
            sample=world.sample, position=2, outcome="passed", note="", actor=world.auditor,
            upload=SimpleUploadedFile("x.pdf", b"just text"), file_name="x.pdf",
        )  # fmt: skip
    assert "file" in caught.value.error_dict
    # An executable is refused whatever its name.
    with pytest.raises(ValidationError):
        sample_result_record(
            sample=world.sample, position=2, outcome="passed", note="", actor=world.auditor,
            upload=SimpleUploadedFile("x.txt", b"MZ\x90\x00" + b"\x00" * 64), file_name="x.txt",
        )  # fmt: skip
    # Over the size limit: refused while streaming.
    settings.PIXAUDIT_MANUAL_MAX_BYTES = 10
    with pytest.raises(ValidationError, match="larger than"):
        sample_result_record(
            sample=world.sample, position=2, outcome="passed", note="", actor=world.auditor,
            upload=SimpleUploadedFile("x.txt", b"a" * 11), file_name="x.txt",
        )  # fmt: skip
    assert SampleResult.objects.count() == before
    stored = world.sample_result
    assert stored.file_name == "ticket.txt" and stored.content_type == "text/plain"
    assert default_storage.exists(stored.file_path)
    assert stored.file_sha256 in stored.file_path


def test_result_form_and_download_through_the_pages(world):
    client = client_for(world.auditor, verified=False)
    url = reverse("audits:sample_result_create", args=[world.engagement.pk, world.sample.pk])
    refused = client.post(url, {"position": "3", "outcome": "exception", "note": ""})
    assert refused.status_code == 400
    assert "Describe the exception." in refused.content.decode()
    ok = client.post(
        url, {"position": "3", "outcome": "passed", "note": "Change ticket CHG-12 approved",
              "file": SimpleUploadedFile("chg.csv", b"id,approved\nCHG-12,yes\n")},
    )  # fmt: skip
    assert ok.status_code == 302
    result = SampleResult.objects.get(sample=world.sample, position=3)
    assert result.content_type == "text/csv"
    download = client.get(
        reverse(
            "audits:sample_result_file", args=[world.engagement.pk, world.sample.pk, result.pk]
        )  # fmt: skip
    )
    assert b"".join(download.streaming_content) == b"id,approved\nCHG-12,yes\n"
    # The other engagement's auditor cannot see or record anything on A's sample.
    other = client_for(world.other_auditor, verified=False)
    assert other.post(url, {"position": "1", "outcome": "passed"}).status_code == 404
    # Managers read results but do not record them.
    manager = client_for(world.manager)
    assert manager.post(url, {"position": "1", "outcome": "passed"}).status_code == 403


def test_sample_workbook(world):
    client = client_for(world.auditor, verified=False)
    response = client.get(
        reverse("audits:sample_workbook", args=[world.engagement.pk, world.sample.pk])
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Results", "Drawn items", "Record"]
    results = book["Results"]
    assert results.freeze_panes == "A2"
    assert results.auto_filter.ref == "A1:L6"
    assert results.column_dimensions["H"].width >= len("Ticket approved")
    header = [c.value for c in results[1]]
    first = dict(zip(header, [c.value for c in results[2]], strict=True))
    assert first["Result"] == "Passed" and first["Note"] == "Ticket approved"
    assert first["Attachment"] == "ticket.txt"
    assert first["Control"].startswith("SOC 2") and "CC6.1" in first["Control"]
    assert [c.value for c in results[3]][6] == "Not tested"
    assert AuditEvent.objects.filter(action="sample.workbook_downloaded").exists()


def test_engagement_report_appends_samples_and_the_workbook_has_them(world):
    from pixaudit.reports.periods import Period
    from pixaudit.reports.rendering import report_html
    from pixaudit.reports.selectors import report_data
    from pixaudit.reports.workbook import audit_workbook_bytes

    engagement = world.engagement
    period = Period(engagement.window_start, engagement.window_end)
    data = report_data(framework=world.soc2, period=period, engagement_id=engagement.pk,
                       engagement_name=engagement.name)  # fmt: skip
    assert [s.sample.pk for s in data.samples] == [world.sample.pk]  # never B's
    html = report_html(data, for_pdf=True)
    assert "Samples and test results" in html and "Ticket approved" in html
    book = load_workbook(io.BytesIO(audit_workbook_bytes(data)))
    assert book.sheetnames == [
        "Control matrix",
        "Coverage",
        "Exceptions",
        "Evidence index",
        "Samples",
    ]
    samples = book["Samples"]
    assert samples.freeze_panes == "A2" and samples.auto_filter.ref == "A1:L6"
    values = [r for r in samples.iter_rows(min_row=2, values_only=True)]
    assert [r[6] for r in values] == ["Passed"] + ["Not tested"] * 4
    # A result recorded after the report was read is not in a rebuild from its pin.
    pin = data.pin()
    sample_result_record(sample=world.sample, position=2, outcome="passed", note="",
                         actor=world.auditor)  # fmt: skip
    rebuilt = report_data(framework=world.soc2, period=period, engagement_id=engagement.pk,
                          pin=pin)  # fmt: skip
    assert rebuilt.samples[0].untested == 4
    assert report_data(framework=world.soc2, period=period,
                       engagement_id=engagement.pk).samples[0].untested == 3  # fmt: skip


def test_control_pages_read_a_constant_number_of_queries(world):
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from pixaudit.audits.sampling import sample_draw
    from tests.security.helpers import evidence_make

    client = client_for(world.auditor, verified=False)
    urls = [
        reverse("audits:control_list", args=[world.engagement.pk]),
        reverse("audits:control_detail", args=[world.engagement.pk, "soc2-2017", "CC6.1"]),
    ]

    def counts():
        out = []
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            out.append(len(ctx.captured_queries))
        return out

    before = counts()
    now = timezone.now()
    for hours in range(2, 12):
        evidence_make(collector_key="demo_inventory", collected_at=now - timedelta(hours=hours))
    sample = sample_draw(engagement=world.engagement, actor=world.auditor, kind="days", size=4,
                         seed=3, control=world.control)  # fmt: skip
    for position in (1, 2, 3):
        sample_result_record(sample=sample, position=position, outcome="passed", note="",
                             actor=world.auditor)  # fmt: skip
    assert counts() == before
