"""Manual evidence uploads: validation, storage, chain, nothing half-stored."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.manual import sanitise_filename
from pixaudit.evidence.models import EvidenceItem, ManualEvidence
from pixaudit.evidence.services.manual import ManualEvidenceError, manual_evidence_upload
from pixaudit.evidence.storage import artifact_read
from tests.reviews.fixtures import client_for

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def ooxml(kind: str = "docx", extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml" if kind == "docx" else "xl/workbook.xml", "<x/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(data: bytes, name: str, user, **kw):
    defaults = {
        "title": "Penetration test 2026",
        "effective_on": timezone.now().date() - timedelta(days=10),
        "control_addresses": ["soc2-2017:CC4.1", "iso27001-2022:A.8.8"],
        "recurrence": "yearly",
    }
    defaults.update(kw)
    return manual_evidence_upload(
        upload=SimpleUploadedFile(name, data), file_name=name, user=user, **defaults
    )


def stored_files(media_root) -> list[str]:
    base = media_root / "evidence" / "manual"
    return sorted(str(p) for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_pdf_is_stored_hashed_and_chained(media_root, catalogs, users):
    item = upload(PDF, "Pentest Report.pdf", users.manager, owner=users.engineer)
    assert item.content_type == "application/pdf" and item.file_name == "Pentest_Report.pdf"
    assert item.valid_until == item.effective_on.replace(year=item.effective_on.year + 1)
    assert item.owner == users.engineer and item.uploaded_by == users.manager
    evidence = item.evidence
    assert evidence.collector_key == "manual"
    document = json.loads(artifact_read(evidence.artifact_path))
    assert document["file"]["sha256"] == item.file_sha256
    assert document["controls"] == ["iso27001-2022:A.8.8", "soc2-2017:CC4.1"]
    assert artifact_read(item.file_path) == PDF
    assert item.file_sha256 in item.file_path
    assert evidence.effective_at.date() == item.effective_on
    assert evidence.expires_at.date() == item.valid_until + timedelta(days=1)
    assert sorted(item.control_links.values_list("control__ref", flat=True)) == ["A.8.8", "CC4.1"]
    result = verify_chain()
    assert result.ok, result.problem


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"MZ\x90\x00" + b"\x00" * 100, "report.pdf", "Windows executable"),
        (b"\x7fELF" + b"\x00" * 100, "report.pdf", "Linux executable"),
        (ooxml("docx")[:-22], "report.pdf", "damaged"),
        (ooxml("docx"), "report.pdf", "named .pdf but its content is DOCX"),
        (b"PNGish", "x.png", "named .png but its content is TEXT"),
        (b"\x1f\x8b\x08\x00", "logs.txt", "Archives are not accepted"),
        (b"\x00\x01\x02\x03binary", "data.csv", "Unsupported file type"),
        (b"", "empty.txt", "empty"),
    ],
)
def test_type_is_sniffed_not_trusted(media_root, catalogs, users, data, name, message):
    with pytest.raises(ManualEvidenceError, match=message):
        upload(data, name, users.manager)
    assert not stored_files(media_root) and not EvidenceItem.objects.exists()


def test_plain_zip_named_pdf_is_refused(media_root, catalogs, users):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", b"MZ")
    with pytest.raises(ManualEvidenceError, match="ZIP archive, not a Word or Excel"):
        upload(buffer.getvalue(), "report.pdf", users.manager)


def test_zip_bomb_is_refused(media_root, catalogs, users):
    bomb = ooxml("docx", {"word/media/zeros.bin": b"\x00" * (8 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ManualEvidenceError, match="ZIP bomb"):
        upload(bomb, "policy.docx", users.manager)


def test_nested_archive_is_refused(media_root, catalogs, users):
    with pytest.raises(ManualEvidenceError, match="embedded archive"):
        upload(ooxml("docx", {"word/embeddings/x.zip": b"PK\x03\x04junk"}), "a.docx", users.manager)
    with pytest.raises(ManualEvidenceError, match="embedded archive"):  # hidden under any name
        upload(ooxml("xlsx", {"xl/media/image1.png": ooxml("docx")}), "b.xlsx", users.manager)


def test_office_text_and_images_are_accepted(media_root, catalogs, users):
    docx = upload(ooxml("docx"), "DPA signed.docx", users.manager, title="DPA")
    xlsx = upload(ooxml("xlsx"), "training.xlsx", users.manager, title="Training")
    csv = upload("name,date\nÉlodie,2026-01-01\n".encode(), "restore.csv", users.manager,
                 title="Restore test")  # fmt: skip
    png = upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "shot", users.manager, title="Shot")
    assert docx.content_type.endswith("wordprocessingml.document")
    assert xlsx.content_type.endswith("spreadsheetml.sheet")
    assert (csv.content_type, png.content_type, png.file_name) == (
        "text/csv", "image/png", "shot.png",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\Report Final (v2).PDF", "Report_Final_v2_.pdf".replace("_.", ".")),
        ("évaluation<script>.pdf", "evaluation_script_.pdf".replace("_.", ".")),
        ("...", "upload"),
        ("\x00\x1f.pdf", "upload.pdf"),
    ],
)
def test_file_names_are_sanitised(raw, safe):
    assert sanitise_filename(raw) == safe


def test_size_limit_is_enforced_while_streaming(media_root, catalogs, users, settings):
    settings.PIXAUDIT_MANUAL_MAX_BYTES = 4096
    consumed = []

    class Endless:
        def chunks(self):
            for _ in range(1000):
                consumed.append(1)
                yield b"a" * 1024

    with pytest.raises(ManualEvidenceError, match="larger than"):
        manual_evidence_upload(
            upload=Endless(), file_name="big.txt", title="Big", user=users.manager,
            effective_on=date.today(), recurrence="yearly", control_addresses=["soc2-2017:CC4.1"],
        )  # fmt: skip
    assert len(consumed) == 5  # stopped at the limit, not after reading everything
    assert not stored_files(media_root) and not ManualEvidence.objects.exists()


def test_metadata_errors_are_clear(media_root, catalogs, users):
    with pytest.raises(ManualEvidenceError) as info:
        upload(PDF, "a.pdf", users.manager, title="", recurrence="",
               control_addresses=["soc2-2017:CC99", "soc2-2017:CC6"],
               effective_on=timezone.now().date() + timedelta(days=3))  # fmt: skip
    errors = info.value.errors
    assert set(errors) == {"title", "controls", "effective_on", "valid_until"}
    assert "CC99" in errors["controls"]


def test_nothing_half_stored_when_the_append_fails(media_root, catalogs, users, monkeypatch):
    upload(PDF, "first.pdf", users.manager)  # an earlier, good upload
    before = stored_files(media_root)
    items = EvidenceItem.objects.count()

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(
        "pixaudit.evidence.services.manual.ManualEvidenceControl.objects.bulk_create", fail
    )
    with pytest.raises(RuntimeError):
        upload(PDF + b"% different bytes\n", "second.pdf", users.manager)
    assert stored_files(media_root) == before
    assert EvidenceItem.objects.count() == items and ManualEvidence.objects.count() == 1
    # The same bytes as an existing upload: the shared file is kept.
    with pytest.raises(RuntimeError):
        upload(PDF, "again.pdf", users.manager)
    assert stored_files(media_root) == before
    assert verify_chain().ok


def test_upload_page_streaming_limit_and_errors(media_root, catalogs, users, settings):
    settings.PIXAUDIT_MANUAL_MAX_BYTES = 2048
    client = client_for(users.manager)
    url = reverse("manualevidence:upload")
    form = {
        "title": "Report", "kind": "pentest", "effective_on": date.today().isoformat(),
        "recurrence": "yearly", "controls": "soc2-2017:CC4.1",
    }  # fmt: skip
    big = client.post(url, {**form, "file": SimpleUploadedFile("big.pdf", b"%PDF-" + b"a" * 50000)})
    assert big.status_code == 413 and b"larger than" in big.content
    spoof = client.post(url, {**form, "file": SimpleUploadedFile("x.pdf", b"MZ" + b"\x00" * 10)})
    assert spoof.status_code == 400 and b"Windows executable" in spoof.content
    good = client.post(url, {**form, "file": SimpleUploadedFile("ok.pdf", PDF)})
    assert good.status_code == 302
    item = ManualEvidence.objects.get()
    download = client.get(reverse("manualevidence:download", args=[item.pk]))
    assert download["Content-Type"] == "application/pdf"
    assert 'attachment; filename="ok.pdf"' == download["Content-Disposition"]
    assert b"".join(download.streaming_content) == PDF
    assert client_for(users.engineer).get(url).status_code == 403
    assert client_for(users.engineer).get(reverse("manualevidence:list")).status_code == 200
    assert client_for(users.auditor).get(reverse("manualevidence:list")).status_code == 403


def _damaged_member_docx() -> bytes:
    data = bytearray(ooxml("docx", {"word/media/image1.bin": b"abcdefgh" * 64}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("word/media/image1.bin")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + info.compress_size] = b"\xff" * info.compress_size
    return bytes(data)


def _unsupported_method_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<x/>")
    data = bytearray(buffer.getvalue())
    # Compression method 9 (Deflate64), which zipfile cannot read: local header + directory.
    for marker, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(marker)
        while at != -1:
            data[at + offset : at + offset + 2] = (9).to_bytes(2, "little")
            at = data.find(marker, at + 4)
    return bytes(data)


@pytest.mark.parametrize("make", [_damaged_member_docx, _unsupported_method_docx])
def test_damaged_office_file_is_refused_with_a_message(media_root, catalogs, users, make):
    with pytest.raises(ManualEvidenceError, match="damaged|cannot be read"):
        upload(make(), "policy.docx", users.manager)
    assert not ManualEvidence.objects.exists()


def test_verify_evidence_checks_the_uploaded_files(media_root, catalogs, users):
    from django.core.management import CommandError, call_command

    item = upload(PDF, "pentest.pdf", users.manager)
    assert verify_chain().ok
    (media_root / item.file_path).write_bytes(PDF.replace(b"1.7", b"1.4"))  # swapped report
    result = verify_chain()
    assert not result.ok
    assert f"seq={item.evidence.seq}" in result.problem and "file" in result.problem
    with pytest.raises(CommandError, match="manual evidence file"):
        call_command("verify_evidence")
    (media_root / item.file_path).unlink()
    assert "missing" in verify_chain().problem
    assert verify_chain(check_artifacts=False).ok
