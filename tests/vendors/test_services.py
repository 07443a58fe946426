"""The vendor register over the real database, storage and chain: import, files, evidence,
reminders, pages and the public sub-processor list."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from pixaudit.auditlog.models import AuditEvent
from pixaudit.commitments.models import Commitment
from pixaudit.commitments.selectors import commitment_states
from pixaudit.commitments.services import commitments_load_builtin, trust_page_set
from pixaudit.controls.models import MappingOverride
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.models import EvidenceItem, LatestResult
from pixaudit.evidence.storage import artifact_read
from pixaudit.notifications.models import Notification
from pixaudit.posture.selectors import control_posture
from pixaudit.vendors.importing import HEADERS, OPTIONAL
from pixaudit.vendors.jobs import vendors_daily_job
from pixaudit.vendors.models import Vendor, VendorFile, VendorIncident
from pixaudit.vendors.register import DPA, INCIDENTS, REPORT, REVIEWS
from pixaudit.vendors.services import (
    VendorError,
    incident_add,
    incident_handle,
    register_import,
    vendor_delete,
    vendor_file_add,
    vendor_reminders_send,
    vendor_save,
    vendor_settings_set,
)
from tests.security.helpers import client_for, pdf_make

pytestmark = pytest.mark.django_db

COLUMNS = ",".join(HEADERS + OPTIONAL)


def _csv(*lines: str) -> bytes:
    return ("\n".join([COLUMNS, *lines]) + "\n").encode()


def _line(name, purpose="Hosting", criticality="critical", processor="yes", **extra) -> str:
    values = {"name": name, "purpose": purpose, "criticality": criticality,
              "processor": processor, **extra}  # fmt: skip
    return ",".join(str(values.get(c, "")) for c in HEADERS + OPTIONAL)


def _latest() -> tuple[EvidenceItem, dict]:
    item = EvidenceItem.objects.filter(collector_key="vendor_register").latest("seq")
    return item, json.loads(artifact_read(item.artifact_path))


def _vendor(name="CloudCo", **extra) -> Vendor:
    today = timezone.localdate()
    data = {"name": name, "purpose": "Cloud hosting", "criticality": "critical",
            "is_processor": True, "is_subprocessor": True, "data_categories": ["images"],
            "next_review_on": today + timedelta(days=90), **extra}  # fmt: skip
    return vendor_save(data=data)


def test_import_csv_creates_vendors_and_appends_typed_evidence(media_root, catalogs, users):
    today = timezone.localdate()
    data = _csv(
        _line("CloudCo", data_categories="customer images; e-mail addresses", subprocessor="yes",
              dpa_signed_on="2025-02-01", dpa_version="2.1", report_kind="soc2_type2",
              report_issuer="Audit LLP", report_period_start="2025-04-01",
              report_period_end=(today - timedelta(days=30)).isoformat(),
              next_review_on=(today + timedelta(days=60)).isoformat(),
              subprocessors="DataCenterCo; CDNCo"),
        _line("MailCo", purpose="E-mail delivery", criticality="medium", processor="no",
              next_review_on=(today - timedelta(days=1)).isoformat()),
    )  # fmt: skip
    counts = register_import(filename="vendors.csv", data=data, user=users.manager)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    cloud = Vendor.objects.get(name="CloudCo")
    assert cloud.data_categories == ["customer images", "e-mail addresses"]
    assert cloud.subprocessors == ["DataCenterCo", "CDNCo"] and cloud.is_subprocessor
    item, document = _latest()
    assert item.row_count == 2 and document["kind"] == "vendor_register"
    dtypes = {c["name"]: c["dtype"] for c in document["columns"]}
    assert dtypes["dpa_signed_on"] == "date" and dtypes["processor"] == "boolean"
    assert dtypes["data_categories"] == "json" and dtypes["incidents"] == "integer"
    row = next(r for r in document["rows"] if r["name"] == "CloudCo")
    assert row["dpa_signed_on"] == "2025-02-01" and row["processor"] is True
    current = {(r.assertion_id, r.resource): r.status for r in LatestResult.objects.all()}
    # The DPA and the report are recorded but not on file yet: both fail until uploaded.
    assert current[(DPA, "vendor:CloudCo")] == "fail"
    assert current[(REPORT, "vendor:CloudCo")] == "fail"
    assert current[(REVIEWS, "vendor:CloudCo")] == "pass"
    assert current[(REVIEWS, "vendor:MailCo")] == "fail"
    assert (DPA, "vendor:MailCo") not in current
    event = AuditEvent.objects.get(action="vendor.imported")
    assert event.details["created"] == 2 and len(event.details["sha256"]) == 64
    # Uploading the signed DPA and the report turns both into passes (evidence on change).
    vendor_file_add(vendor=cloud, kind="dpa", upload=SimpleUploadedFile("dpa.pdf", pdf_make("d")),
                    file_name="dpa.pdf", user=users.manager)  # fmt: skip
    report = SimpleUploadedFile("soc2.pdf", pdf_make("r"))
    vendor_file_add(vendor=cloud, kind="report", file_name="soc2.pdf", upload=report,
                    user=users.manager)  # fmt: skip
    current = {(r.assertion_id, r.resource): r.status for r in LatestResult.objects.all()}
    assert current[(DPA, "vendor:CloudCo")] == "pass"
    assert current[(REPORT, "vendor:CloudCo")] == "pass"
    _, document = _latest()
    assert {f["kind"] for f in document["files"]} == {"dpa", "report"}
    out = io.StringIO()
    call_command("verify_evidence", stdout=out)
    assert "OK" in out.getvalue()


def test_import_xlsx_updates_by_name_and_keeps_files(media_root, catalogs, users):
    vendor = _vendor("CloudCo")
    vendor_file_add(vendor=vendor, kind="dpa", upload=SimpleUploadedFile("dpa.pdf", pdf_make()),
                    file_name="dpa.pdf")  # fmt: skip
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Purpose", "Criticality", "Processor", "DPA signed on", "Next review on"])
    sheet.append(["cloudco", "Hosting and backups", "high", "Yes",
                  timezone.localdate() - timedelta(days=10), "2030-01-01"])  # fmt: skip
    sheet.append(["NewCo", "Analytics", "low", "no", None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    counts = register_import(filename="register.xlsx", data=buffer.getvalue())
    assert counts == {"created": 1, "updated": 1, "unchanged": 0}
    vendor.refresh_from_db()
    assert vendor.purpose == "Hosting and backups" and vendor.criticality == "high"
    assert vendor.dpa_file is not None and vendor.next_review_on.isoformat() == "2030-01-01"
    current = {(r.assertion_id, r.resource): r.status for r in LatestResult.objects.all()}
    assert current[(DPA, "vendor:CloudCo")] == "pass"
    # No longer critical: its earlier report verdict is closed with a pass saying why.
    assert current[(REPORT, "vendor:CloudCo")] == "pass"
    closing = LatestResult.objects.get(assertion_id=REPORT, resource="vendor:CloudCo")
    assert "no longer a critical vendor" in closing.message


def test_a_bad_import_names_each_bad_row_and_column_and_stores_nothing(media_root, catalogs):
    _vendor("Existing")
    before = (Vendor.objects.count(), EvidenceItem.objects.count(), AuditEvent.objects.count())
    data = _csv(
        _line("Good"),
        _line("", criticality="urgent"),
        _line("Twice"),
        _line("twice", processor="maybe", dpa_signed_on="01/02/2025"),
        _line("Backwards", report_kind="soc2_type2", report_period_start="2025-05-01",
              report_period_end="2025-01-01"),
        _line("NoKind", report_issuer="Audit LLP"),
    )  # fmt: skip
    with pytest.raises(VendorError) as info:
        register_import(filename="vendors.csv", data=data)
    lines = info.value.lines
    assert (3, "name", "is empty") in lines
    assert (3, "criticality", "'urgent' is not one of low, medium, high, critical") in lines
    assert (5, "name", "'twice' repeats line 4") in lines
    assert (5, "processor", "'maybe' is not yes or no") in lines
    assert (5, "dpa_signed_on", "'01/02/2025' is not a date (YYYY-MM-DD)") in lines
    assert any(n == 6 and c == "report_period_end" for n, c, _ in lines)
    assert any(n == 7 and c == "report_kind" for n, c, _ in lines)
    assert not any(n == 2 for n, _, _ in lines)  # the good row is not blamed
    assert "nothing was stored" in info.value.errors["file"]
    after = (Vendor.objects.count(), EvidenceItem.objects.count(), AuditEvent.objects.count())
    assert after == before
    for data, message in (
        (b"name,purpose\nX,Y\n", "missing column(s): criticality, processor"),
        (COLUMNS.encode() + b",colour\n", "unknown column"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"", "the file is empty"),
    ):
        with pytest.raises(VendorError) as info:
            register_import(filename="v.csv", data=data)
        assert message in str(info.value.lines), (data, info.value.lines)
    with pytest.raises(VendorError) as info:
        register_import(filename="v.xlsx", data=b"not a workbook")
    assert "not a readable XLSX workbook" in str(info.value.lines)
    with pytest.raises(VendorError) as info:
        register_import(filename="v.json", data=b"{}")
    assert "upload a .csv or .xlsx file" in str(info.value.lines)


def test_export_round_trips_and_neutralises_formulas(media_root, catalogs, users):
    _vendor("CloudCo", dpa_signed_on=timezone.localdate(), dpa_version="1",
            subprocessors=["A", "B"])  # fmt: skip
    _vendor("=HYPERLINK(1)", criticality="low", is_processor=False)
    client = client_for(users.engineer, verified=False)
    csv_body = client.get(reverse("vendors:export", args=["csv"])).content
    assert b"'=HYPERLINK(1)" in csv_body
    xlsx = client.get(reverse("vendors:export", args=["xlsx"]))
    assert xlsx["Content-Disposition"].startswith("attachment;")
    assert AuditEvent.objects.filter(action="vendor.exported").count() == 2
    Vendor.objects.filter(name="=HYPERLINK(1)").delete()
    counts = register_import(filename="export.xlsx", data=xlsx.content)
    # CloudCo comes back as exported; the formula-like name comes back as the text written.
    assert counts == {"created": 1, "updated": 0, "unchanged": 1}
    assert Vendor.objects.filter(name="'=HYPERLINK(1)").exists()
    assert Vendor.objects.get(name="CloudCo").subprocessors == ["A", "B"]


def test_files_are_checked_like_manual_evidence(media_root, catalogs, users, settings):
    vendor = _vendor()
    with pytest.raises(VendorError) as info:
        vendor_file_add(vendor=vendor, kind="dpa", file_name="dpa.pdf",
                        upload=SimpleUploadedFile("dpa.pdf", b"MZ\x90\x00 not a pdf"))  # fmt: skip
    assert "executable" in info.value.errors["file"] or "PDF" in info.value.errors["file"]
    assert not VendorFile.objects.exists()
    settings.PIXAUDIT_MANUAL_MAX_BYTES = 1024
    client = client_for(users.manager)
    url = reverse("vendors:upload", args=[vendor.pk])
    response = client.post(
        url, {"kind": "dpa", "file": SimpleUploadedFile("big.pdf", b"%PDF" + b"0" * 5000)}
    )
    assert response.status_code == 413
    assert "larger than the 1 MB limit" in response.content.decode()
    assert not VendorFile.objects.exists()


def test_incidents_and_their_deadline(media_root, catalogs, users):
    vendor = _vendor()
    today = timezone.localdate()
    late = incident_add(vendor=vendor, notified_on=today - timedelta(days=10),
                        notify_by=today - timedelta(days=7), description="Credential leak",
                        user=users.manager)  # fmt: skip
    current = LatestResult.objects.get(assertion_id=INCIDENTS)
    assert current.status == "fail" and current.resource == f"vendor:CloudCo/incident:{late.pk}"
    incident_handle(incident=late, handled_on=today - timedelta(days=8), user=users.manager)
    assert LatestResult.objects.get(assertion_id=INCIDENTS).status == "pass"
    with pytest.raises(VendorError):
        incident_handle(incident=late, handled_on=today - timedelta(days=30))
    with pytest.raises(VendorError) as info:
        incident_add(vendor=vendor, notified_on=today, notify_by=today - timedelta(days=1),
                     occurred_on=today + timedelta(days=1), description="")  # fmt: skip
    assert set(info.value.errors) == {"description", "occurred_on", "notify_by"}
    assert VendorIncident.objects.count() == 1
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"vendor.incident_added", "vendor.incident_handled"} <= actions


def test_evidence_is_mapped_and_backs_the_commitments(media_root, catalogs, users):
    commitments_load_builtin()
    vendor = _vendor(dpa_signed_on=timezone.localdate())
    for address in ("soc2-2017:CC9.2", "iso27001-2022:A.5.19", "iso27001-2022:A.5.20",
                    "iso27001-2022:A.5.21", "iso27001-2022:A.5.22"):  # fmt: skip
        control = control_get_by_address(address)
        assert MappingOverride.objects.filter(
            control=control, assertion_id__startswith="vendor_register."
        ).exists()
    assert control_posture(control=control_get_by_address("soc2-2017:CC9.2")).status == "failing"
    states = {s.commitment.key: s.status for s in commitment_states()}
    assert states["processor-agreements"] == "failing"  # signed, but no copy on file
    vendor_file_add(vendor=vendor, kind="dpa", upload=SimpleUploadedFile("dpa.pdf", pdf_make()),
                    file_name="dpa.pdf")  # fmt: skip
    states = {s.commitment.key: s.status for s in commitment_states()}
    assert states["processor-agreements"] == "passing"
    assert states["processor-security-audits"] == "failing"  # critical, no report
    assert states["processor-incident-notification"] == "no_evidence"
    keys = set(Commitment.objects.filter(section="Third-Party Data Processors")
               .values_list("key", flat=True))  # fmt: skip
    assert {"processor-agreements", "processor-security-audits",
            "processor-incident-notification"} <= keys  # fmt: skip


def test_daily_job_and_removed_vendors(media_root, catalogs, users):
    assert vendors_daily_job() == {"skipped": "empty register"}
    vendor = _vendor()
    first = vendors_daily_job()
    assert first["vendors"] == 1
    vendor_delete(vendor=vendor, user=users.manager)
    current = {(r.assertion_id, r.resource): r for r in LatestResult.objects.all()}
    assert current[(DPA, "vendor:CloudCo")].status == "pass"
    assert "no longer a processor" in current[(DPA, "vendor:CloudCo")].message
    again = vendors_daily_job()  # empty register, earlier evidence: still appended
    assert again["vendors"] == 0
    _, document = _latest()
    assert document["findings"] == []  # closed once, not repeated for ever
    assert AuditEvent.objects.filter(action="vendor.deleted").exists()


def test_reminders_once_per_change(media_root, catalogs, users):
    today = timezone.localdate()
    vendor = _vendor(dpa_signed_on=today - timedelta(days=300),
                     dpa_expires_on=today + timedelta(days=20),
                     report_kind="iso27001", report_period_end=today - timedelta(days=10),
                     report_expires_on=today + timedelta(days=90),
                     next_review_on=today + timedelta(days=5))  # fmt: skip
    assert vendor_reminders_send(today=today) == 2  # the DPA and the review; report too far
    assert vendor_reminders_send(today=today) == 0  # a rerun sends nothing new
    assert vendors_daily_job()["reminders"] == 0
    notes = Notification.objects.order_by("event")
    assert [n.event for n in notes] == ["vendor.dpa_expiring", "vendor.review_due"]
    assert users.manager in notes[0].recipients.all()
    assert users.engineer not in notes[0].recipients.all()
    assert notes[0].subject == (f"CloudCo: DPA expires on "
                                f"{(today + timedelta(days=20)).isoformat()}")  # fmt: skip
    # A new date is a new change: reminded again, once.
    data = {k: getattr(vendor, k) for k in ("name", "purpose", "criticality", "is_processor",
                                            "dpa_signed_on", "report_kind", "report_period_end",
                                            "report_expires_on")}  # fmt: skip
    vendor_save(vendor=vendor, data={**data, "next_review_on": today - timedelta(days=1),
                                     "dpa_expires_on": today + timedelta(days=20)})  # fmt: skip
    assert vendor_reminders_send(today=today) == 1
    assert Notification.objects.filter(event="vendor.review_due").count() == 2
    assert "was due" in Notification.objects.filter(event="vendor.review_due").latest("pk").subject
    assert vendor_reminders_send(today=today + timedelta(days=61)) == 1  # the report, now near


def test_trust_page_lists_sub_processors_only_when_opted_in(media_root, catalogs, users):
    commitments_load_builtin()
    _vendor("CloudCo", purpose="Cloud hosting", report_issuer="Secret Auditors LLP",
            data_categories=["customer images"])  # fmt: skip
    _vendor("InternalTool", purpose="Wiki", is_subprocessor=False, criticality="low")
    trust_page_set(enabled=True, user=users.manager)
    anonymous = client_for(None)
    page = anonymous.get(reverse("trust_page")).content.decode()
    assert "CloudCo" not in page and "Sub-processors" not in page
    vendor_settings_set(publish_subprocessors=True, user=users.manager)
    page = anonymous.get(reverse("trust_page")).content.decode()
    assert "CloudCo" in page and "Cloud hosting" in page
    for hidden in ("InternalTool", "Secret Auditors", "customer images", "/vendors/"):
        assert hidden not in page, hidden
    section = page[page.index("trust-subprocessors") : page.index("</section>")]
    assert "<li><strong>CloudCo</strong>: Cloud hosting</li>" in section
    assert "critical" not in section.lower() and "<a " not in section
    preview = client_for(users.manager).get(reverse("commitments:trust_page_preview"))
    assert "CloudCo" in preview.content.decode()
    trust_page_set(enabled=False, user=users.manager)
    assert anonymous.get(reverse("trust_page")).status_code == 404
    event = AuditEvent.objects.get(action="vendor.public_list_changed")
    assert event.details["publish_subprocessors"] is True


def test_pages(media_root, catalogs, users):
    today = timezone.localdate()
    _vendor("CloudCo", next_review_on=today - timedelta(days=2))
    _vendor("MailCo", purpose="E-mail delivery", criticality="medium", is_processor=False)
    engineer = client_for(users.engineer, verified=False)
    page = engineer.get(reverse("vendors:list")).content.decode()
    assert "CloudCo" in page and "MailCo" in page and "Add a vendor" not in page
    page = engineer.get(reverse("vendors:list"), {"attention": "review_overdue"}).content.decode()
    assert "CloudCo" in page and "MailCo" not in page
    page = engineer.get(reverse("vendors:list"), {"q": "mail"}).content.decode()
    assert "CloudCo" not in page and "MailCo" in page
    page = engineer.get(reverse("vendors:list"), {"processor": "no"}).content.decode()
    assert "CloudCo" not in page and "MailCo" in page
    manager = client_for(users.manager)
    response = manager.post(reverse("vendors:create"), {"name": "cloudco", "purpose": "x",
                                                        "criticality": "low"})  # fmt: skip
    assert response.status_code == 400 and "already exists" in response.content.decode()
    response = manager.post(reverse("vendors:create"), {
        "name": "PayCo", "purpose": "Payments", "criticality": "high", "is_processor": "on",
        "data_categories": "card tokens; names", "dpa_signed_on": "2026-01-05",
        "report_period_start": "2026-02-01", "report_period_end": "2026-01-01",
    })  # fmt: skip
    assert response.status_code == 400 and "before it starts" in response.content.decode()
    response = manager.post(reverse("vendors:create"), {
        "name": "PayCo", "purpose": "Payments", "criticality": "high", "is_processor": "on",
        "data_categories": "card tokens; names", "dpa_signed_on": "2026-01-05",
    })  # fmt: skip
    payco = Vendor.objects.get(name="PayCo")
    assert response.status_code == 302 and payco.data_categories == ["card tokens", "names"]
    detail = engineer.get(reverse("vendors:detail", args=[payco.pk])).content.decode()
    assert "no copy on file" in detail and "has a signed" not in detail
    assert "PayCo&#x27;s DPA (signed 2026-01-05) is not on file" in detail
    dpa = SimpleUploadedFile("dpa.pdf", pdf_make())
    upload = manager.post(reverse("vendors:upload", args=[payco.pk]), {"kind": "dpa", "file": dpa})
    assert upload.status_code == 302
    record = VendorFile.objects.get(vendor=payco)
    download = engineer.get(reverse("vendors:file_download", args=[payco.pk, record.pk]))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert AuditEvent.objects.filter(action="vendor.file_downloaded").exists()
    edit = manager.get(reverse("vendors:edit", args=[payco.pk])).content.decode()
    assert "card tokens; names" in edit
    response = manager.post(reverse("vendors:import"), {"file": SimpleUploadedFile(
        "v.csv", _csv(_line("X", criticality="urgent")))})  # fmt: skip
    assert response.status_code == 400
    assert "Line 2, column criticality" in response.content.decode()
    response = manager.post(reverse("vendors:delete", args=[payco.pk]), {})
    assert response.status_code == 302 and Vendor.objects.filter(pk=payco.pk).exists()
    manager.post(reverse("vendors:delete", args=[payco.pk]), {"confirm": "yes"})
    assert not Vendor.objects.filter(pk=payco.pk).exists()


def test_register_evidence_reads_like_any_evidence(media_root, catalogs, users):
    _vendor()
    item, _ = _latest()
    engineer = client_for(users.engineer, verified=False)
    page = engineer.get(reverse("dashboard:evidence_detail", args=[item.pk]))
    assert page.status_code == 200
    assert "vendor:CloudCo" in page.content.decode()
    artifact = engineer.get(reverse("dashboard:evidence_artifact", args=[item.pk]))
    body = b"".join(artifact.streaming_content if artifact.streaming else [artifact.content])
    assert json.loads(body)["rows"][0]["name"] == "CloudCo"


def test_run_scheduled_daily_appends_the_register(media_root, catalogs, users):
    out = io.StringIO()
    call_command("run_scheduled", "--daily", stdout=out)
    assert "Vendor register: skipped (empty register)" in out.getvalue()
    _vendor()
    before = EvidenceItem.objects.filter(collector_key="vendor_register").count()
    out = io.StringIO()
    call_command("run_scheduled", "--daily", stdout=out)
    item, _ = _latest()
    assert f"Vendor register: evidence #{item.seq}, 0 reminder(s) sent" in out.getvalue()
    assert EvidenceItem.objects.filter(collector_key="vendor_register").count() == before + 1


def test_list_pages_through_large_registers(media_root, catalogs, users, monkeypatch):
    from pixaudit.vendors import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    _vendor("Alpha")
    _vendor("Beta")
    client = client_for(users.engineer, verified=False)
    first = client.get(reverse("vendors:list"), {"criticality": "critical"}).content.decode()
    assert "Alpha" in first and "Beta" not in first and "Page 1 of 2" in first
    assert "criticality=critical&amp;page=2" in first
    second = client.get(reverse("vendors:list"), {"criticality": "critical", "page": 2})
    assert "Beta" in second.content.decode() and "Alpha" not in second.content.decode()
