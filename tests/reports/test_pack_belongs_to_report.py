"""A pack belongs to one report and holds exactly the evidence it was rendered from (12.5).

The report pins its evidence (ids and chain head) when it renders; its pack, preview and
the CLI's ``pack`` are rebuilt from that pin and the stored PDF, so evidence collected after
the render never appears, and ``report`` then ``pack`` packs the PDF just rendered.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse

from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.services import collection_run_create, collection_run_execute
from pixaudit.reports import services
from pixaudit.reports.models import Report, ReportEvidencePin
from pixaudit.reports.rendering import RenderedPdf
from pixaudit.reports.services import PackUnavailable, pack_build, report_render_now
from tests.reports.pack_helpers import pack_build_via_page


@pytest.fixture
def numbered_pdfs(monkeypatch):
    """Every render produces a different small "PDF" naming its evidence (no weasyprint)."""
    counter = itertools.count(1)

    def fake(data, progress=None):
        ids = ",".join(str(e.id) for e in data.evidence)
        return RenderedPdf(f"%PDF-fake render {next(counter)} evidence {ids}".encode(), 1)

    monkeypatch.setattr(services, "report_pdf", fake)


def _collect_again(item: EvidenceItem) -> EvidenceItem:
    run = collection_run_execute(
        run_id=collection_run_create(connection=item.connection, trigger="manual").pk
    )
    assert run.status == "succeeded", run.error_message
    return run.evidence.get()


def _pack_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _index_ids(members: dict[str, bytes]) -> set[int]:
    rows = csv.DictReader(io.StringIO(members["evidence-index.csv"].decode()))
    return {int(row["evidence_id"]) for row in rows}


def _assert_holds_exactly(members: dict[str, bytes], report: Report, ids: set[int], later):
    manifest = json.loads(members["manifest.json"])
    assert manifest["chain_head"]["seq"] == report.chain_head_seq
    assert manifest["chain_head"]["hash"] == report.chain_head_hash
    assert manifest["report"]["report_id"] == report.pk
    assert manifest["report"]["sha256"] == report.sha256
    assert _index_ids(members) == ids
    listed = {i for f in manifest["files"] for i in f["evidence_ids"]}
    assert listed == ids
    # Nothing of the later item anywhere: not its id's artifact, not its digest.
    for name, data in members.items():
        assert later.sha256.encode() not in data, name


def test_pack_holds_the_pinned_evidence_and_the_stored_pdf(
    scope, collected, numbered_pdfs, tmp_path
):
    report = report_render_now(scope=scope)
    pin = ReportEvidencePin.objects.get(report=report)
    assert pin.evidence_ids == sorted(i.pk for i in collected) and pin.evidence_count == 2
    assert report.chain_head_seq == max(i.seq for i in collected)
    later = _collect_again(collected[0])
    assert later.seq > report.chain_head_seq

    path = tmp_path / "pack.zip"
    with open(path, "wb") as fh:
        pack_build(report=report, fileobj=fh)
    members = _pack_members(path)
    _assert_holds_exactly(members, report, {i.pk for i in collected}, later)
    with default_storage.open(report.file_path, "rb") as fh:
        assert members["report.pdf"] == fh.read()
    artifacts = [n for n in members if n.startswith("controls/CC6.1/evidence/")]
    assert len(artifacts) == 2
    readme = members["README.txt"].decode()
    assert "exactly the 2 item(s) the report was rendered from" in readme


def test_cli_report_then_pack_packs_the_pdf_just_rendered(
    scope, collected, numbered_pdfs, tmp_path, capsys
):
    pdf = tmp_path / "report.pdf"
    call_command("report", "--framework", "soc2-2017", "--out", str(pdf))
    report = Report.objects.latest("id")
    out = capsys.readouterr().out
    assert f"manage.py pack --report {report.pk}" in out
    later = _collect_again(collected[0])

    pack = tmp_path / "pack.zip"
    call_command("pack", "--framework", "soc2-2017", "--out", str(pack))
    out = capsys.readouterr().out
    assert f"pack of report {report.pk} (rendered earlier" in out
    assert Report.objects.count() == 1  # nothing re-rendered
    members = _pack_members(pack)
    assert members["report.pdf"] == pdf.read_bytes()
    _assert_holds_exactly(members, report, {i.pk for i in collected}, later)

    by_id = tmp_path / "by-id.zip"
    call_command("pack", "--report", str(report.pk), "--out", str(by_id))
    assert _pack_members(by_id)["report.pdf"] == pdf.read_bytes()

    # --render: a new report, with the later evidence, and its own PDF.
    fresh = tmp_path / "fresh.zip"
    call_command("pack", "--framework", "soc2-2017", "--render", "--out", str(fresh))
    new = Report.objects.latest("id")
    assert new.pk != report.pk
    assert f"pack of report {new.pk} (rendered now" in capsys.readouterr().out
    members = _pack_members(fresh)
    assert members["report.pdf"] != pdf.read_bytes()
    assert _index_ids(members) == {i.pk for i in collected} | {later.pk}
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("pack", "--report", str(report.pk), "--render", "--out", str(fresh))


def test_preview_shows_the_pinned_evidence(scope, collected, numbered_pdfs, manager_client):
    report = report_render_now(scope=scope)
    later = _collect_again(collected[0])
    detail = manager_client.get(reverse("reports:detail", args=[report.pk])).content.decode()
    assert "2 items read at" in detail and "the evidence pack holds exactly these" in detail
    html = manager_client.get(reverse("reports:preview", args=[report.pk])).content.decode()
    assert all(item.sha256 in html for item in collected)
    assert later.sha256 not in html
    assert f"up to chain item {report.chain_head_seq}" in html


def test_pack_refused_when_it_cannot_be_rebuilt_exactly(
    scope, collected, numbered_pdfs, manager_client, tmp_path
):
    report = report_render_now(scope=scope)
    pin = ReportEvidencePin.objects.get(report=report)
    # An item the report was rendered from is gone (retention, or a damaged database).
    ReportEvidencePin.objects.filter(pk=pin.pk).update(evidence_ids=[*pin.evidence_ids, 987654])
    with pytest.raises(PackUnavailable, match=r"no longer stored .*ids 987654"):
        pack_build(report=report, fileobj=io.BytesIO())
    build = pack_build_via_page(manager_client, reverse("reports:pack", args=[report.pk]))
    assert build.status == "failed" and not build.file_path
    assert build.error_message.startswith("The evidence pack cannot be built: ")
    assert "987654" in build.error_message
    page = manager_client.get(reverse("reports:pack_detail", args=[build.pk])).content.decode()
    assert "The evidence pack cannot be built" in page and "Build the pack again" in page
    ReportEvidencePin.objects.filter(pk=pin.pk).update(evidence_ids=pin.evidence_ids)

    # The stored PDF no longer matches the digest recorded at render time.
    with default_storage.open(report.file_path, "wb") as fh:
        fh.write(b"%PDF-something else")
    with pytest.raises(PackUnavailable, match="does not match the SHA-256 recorded"):
        pack_build(report=report, fileobj=io.BytesIO())

    # A report rendered before reports pinned their evidence.
    ReportEvidencePin.objects.filter(pk=pin.pk).delete()
    with pytest.raises(PackUnavailable, match="render the report again"):
        pack_build(report=report, fileobj=io.BytesIO())
    with pytest.raises(CommandError, match="render the report again"):
        call_command("pack", "--report", str(report.pk), "--out", str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()
