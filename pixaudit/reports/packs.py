"""Evidence packs: one ZIP an external auditor can verify offline with standard tools.

Layout (``PACK_FORMAT`` 1)::

    README.txt                 how to verify (sha256sum, openssl)
    report.pdf                 the stored report, byte-identical (its SHA-256 is on the Report);
                               in an auditor's pack, the copy stamped for that auditor
    public_key.pem             the Ed25519 public key that signed manifest.json
    evidence-index.csv         every evidence item of the period, with its pack paths
    audit-workbook.xlsx        control matrix, evidence index (and samples with their results
                               for an engagement report): frozen headers, filters, widths
    controls/<ref>/results.csv, results.xlsx   end-of-period population of the control's tests
    controls/<ref>/collections.csv             per collection: the control's result counts
    controls/<ref>/evidence/<seq>-<collector>-<sha256 prefix>.json   raw artifacts, as stored
    oscal/catalog.json, oscal/assessment-results.json
    manifest.json              canonical JSON: every file above with sha256, size, evidence
                               ids and controls; framework, period, chain head, version
    manifest.sig               raw 64-byte Ed25519 signature over manifest.json's bytes
    SHA256SUMS                 ``sha256sum -c`` input for every file but itself

The ZIP is written entry by entry to a file object; artifacts are streamed from storage in
chunks and hashed on the way, so memory does not grow with the pack (only the manifest's
list of files does). An artifact that backs several controls is copied into each control's
folder, so every folder stands on its own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import IO, Any

from django.core.files.storage import default_storage

from pixaudit.evidence.canonical import canonical_bytes, format_datetime
from pixaudit.evidence.storage import artifact_chunks
from pixaudit.lib.spreadsheet import spreadsheet_text as _cell
from pixaudit.reports import oscal, signing
from pixaudit.reports.selectors import ControlSection, EvidenceRow, ReportData
from pixaudit.reports.selectors_sections import section_collections, section_results
from pixaudit.reports.workbook import WORKBOOK_PATH, audit_workbook_bytes

PACK_FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
PUBLIC_KEY = "public_key.pem"
REPORT_PDF = "report.pdf"
XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header row
_CHUNK = 1024 * 1024

ProgressFn = Callable[[int, str], None]


class PackUnavailable(ValueError):
    """The pack cannot be built as its report was rendered (the message says why)."""


def artifact_pack_path(ref: str, item: EvidenceRow) -> str:
    return f"controls/{ref}/evidence/{item.seq:08d}-{item.collector_key}-{item.sha256[:16]}.json"


@dataclass
class PackEntry:
    path: str
    sha256: str
    size: int
    evidence_ids: list[int] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)

    def as_manifest(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "evidence_ids": sorted(self.evidence_ids),
            "controls": list(self.controls),
        }


@dataclass
class PackResult:
    entries: list[PackEntry]
    manifest_sha256: str
    files: int
    bytes_in: int


class _HashingSink(io.RawIOBase):
    """A writable stream that hashes and counts what passes through to ``target``."""

    def __init__(self, target: IO[bytes]):
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        data = bytes(data)
        self.target.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


class PackWriter:
    """Writes entries into a ZipFile and remembers each one's digest for the manifest."""

    def __init__(self, zf: zipfile.ZipFile, date_time: tuple[int, ...]):
        self.zf = zf
        self.date_time = date_time
        self.entries: dict[str, PackEntry] = {}

    def _info(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self.date_time)  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def write_stream(self, path: str, write: Callable[[IO[bytes]], None], **meta: Any) -> PackEntry:
        if path in self.entries:
            raise ValueError(f"duplicate pack path {path}")
        with self.zf.open(self._info(path), "w", force_zip64=True) as fh:
            sink = _HashingSink(fh)
            write(sink)  # type: ignore[arg-type]
        entry = PackEntry(path, sink.digest.hexdigest(), sink.size, **meta)
        self.entries[path] = entry
        return entry

    def write_chunks(self, path: str, chunks: Iterable[bytes], **meta: Any) -> PackEntry:
        def write(sink: IO[bytes]) -> None:
            for chunk in chunks:
                sink.write(chunk)

        return self.write_stream(path, write, **meta)

    def write_bytes(self, path: str, data: bytes, **meta: Any) -> PackEntry:
        return self.write_chunks(path, [data], **meta)


def _csv_writer(sink: IO[bytes]) -> tuple[Any, io.TextIOWrapper]:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    return csv.writer(text), text


_RESULT_COLUMNS = [
    "control", "assertion_id", "resource", "connection", "status", "severity", "message",
    "collected_at", "evidence_id",
]  # fmt: skip


def _write_tables(writer: PackWriter, section: ControlSection, data: ReportData) -> None:
    """results.csv/.xlsx (pandas) and collections.csv for one tested control."""
    import pandas as pd

    ref = section.control.ref
    meta = {"controls": [ref], "evidence_ids": []}
    rows = [
        (ref, _cell(f.assertion_id), _cell(f.resource), _cell(f.connection), _cell(f.status),
         _cell(f.severity), _cell(f.message), format_datetime(f.collected_at), f.evidence_id)
        for f in section_results(section=section)
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=_RESULT_COLUMNS)
    ids = sorted({r[8] for r in rows})

    def write_csv(sink: IO[bytes]) -> None:
        text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
        frame.to_csv(text, index=False, lineterminator="\n")
        text.detach()

    writer.write_stream(f"controls/{ref}/results.csv", write_csv, **{**meta, "evidence_ids": ids})
    buffer = io.BytesIO()
    frame.head(XLSX_MAX_ROWS).to_excel(buffer, index=False, sheet_name="results", engine="openpyxl")
    writer.write_bytes(
        f"controls/{ref}/results.xlsx", buffer.getvalue(), **{**meta, "evidence_ids": ids}
    )

    collections = section_collections(section=section, period=data.period)

    def write_collections(sink: IO[bytes]) -> None:
        out, text = _csv_writer(sink)
        out.writerow(["evidence_id", "seq", "collector_key", "connection", "collected_at",
                      "pass", "fail", "warn", "error"])  # fmt: skip
        for c in collections:
            out.writerow([c["evidence_id"], c["seq"], _cell(c["collector_key"]),
                          _cell(c["connection"]),
                          format_datetime(c["collected_at"]), c["pass"], c["fail"], c["warn"],
                          c["error"]])  # fmt: skip
        text.detach()

    writer.write_stream(
        f"controls/{ref}/collections.csv",
        write_collections,
        controls=[ref],
        evidence_ids=[c["evidence_id"] for c in collections],
    )


def evidence_pack_paths(data: ReportData) -> dict[int, list[str]]:
    paths: dict[int, list[str]] = {}
    for section in data.sections:
        for item in section.evidence:
            paths.setdefault(item.id, []).append(artifact_pack_path(section.control.ref, item))
    return paths


def _write_evidence_index(writer: PackWriter, data: ReportData, paths: dict[int, list[str]]):
    def write(sink: IO[bytes]) -> None:
        out, text = _csv_writer(sink)
        out.writerow(["evidence_id", "seq", "collector_key", "connection", "collected_at",
                      "effective_at", "expires_at", "rows", "findings", "sha256", "chain_hash",
                      "controls", "pack_paths"])  # fmt: skip
        for e in data.evidence:
            out.writerow([e.id, e.seq, _cell(e.collector_key), _cell(e.connection_name),
                          format_datetime(e.collected_at), format_datetime(e.effective_at),
                          format_datetime(e.expires_at), e.row_count, e.findings_count,
                          e.sha256, e.chain_hash, " ".join(e.controls),
                          " ".join(paths.get(e.id, []))])  # fmt: skip
        text.detach()

    writer.write_stream(
        "evidence-index.csv", write, evidence_ids=[e.id for e in data.evidence], controls=[]
    )


def readme_text(data: ReportData, fingerprint: str, key_url: str = "") -> str:
    published = f"\n              published at {key_url}" if key_url else ""
    aws = (
        f"\nAWS scope:    limited to {data.aws_scope.label} (other AWS accounts' results and "
        "evidence left out; everything not collected by an AWS integration kept)"
        if data.aws_scope is not None
        else ""
    )
    return f"""pixaudit evidence pack
======================

Organisation: {data.org_name}
Framework:    {data.framework.name} ({data.framework.key})
Period:       {data.period.start} to {data.period.end} (UTC, inclusive){aws}
Report:       generated {format_datetime(data.generated_at)} by pixaudit {data.version}
Evidence:     exactly the {len(data.evidence)} item(s) the report was rendered from
Chain head:   item {data.chain_head_seq}, {data.chain_head_hash}
Signing key:  {fingerprint} (SHA-256 of public_key.pem){published}

Contents: report.pdf (the report), controls/<control>/ (raw evidence artifacts exactly as
stored, results.csv/.xlsx with the full population tested at the end of the period,
collections.csv with each collection's results), evidence-index.csv (every evidence item
the report lists), audit-workbook.xlsx (control matrix, evidence index and, for an
engagement, the samples with their test results), oscal/ (OSCAL catalog and assessment
results), manifest.json (every file with its SHA-256, size, evidence ids and controls),
manifest.sig and SHA256SUMS.

How to verify (standard tools only; run inside the unzipped folder)
-------------------------------------------------------------------

1. Check the public key is the one the organisation published. The copy in this pack
   proves nothing by itself: anyone can rebuild a pack and sign it with a key of their
   own. Get the key or its fingerprint from the organisation, not from this pack (its
   published URL, the auditor's engagement page, the "Signing key" page, or
   `manage.py signing_key --fingerprint` run by the organisation) and compare:

       sha256sum public_key.pem

2. Check the signature over the manifest (OpenSSL 3.0 or later):

       openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\
           -in manifest.json -sigfile manifest.sig

   It prints "Signature Verified Successfully". Without OpenSSL 3, with Python:

       python3 -c "import sys;from cryptography.hazmat.primitives.serialization import \\
       load_pem_public_key as L;L(open('public_key.pem','rb').read()).verify(\\
       open('manifest.sig','rb').read(),open('manifest.json','rb').read());print('OK')"

3. Check every file against its recorded SHA-256:

       sha256sum -c SHA256SUMS

   Every line must say OK. SHA256SUMS lists every file of the pack except itself,
   including manifest.json, so (2) and (3) together tie every file to the signature.
   manifest.json lists the same files with their sizes: a file present in the folder but
   absent from the manifest was not part of the pack.

With pixaudit installed, this does all of the above without a database and names any
file that fails (or use --public-key published.pem, or --key-url with the instance's
address, instead of --fingerprint):

       manage.py verify_pack pack.zip --fingerprint {fingerprint}

Without a pinned key it says the signature proves nothing about who made the pack and
exits non-zero, unless told --trust-embedded-key.
"""


def pack_write(
    *,
    fileobj: IO[bytes],
    data: ReportData,
    report_pdf_path: str,
    report_id: int | None = None,
    report_sha256: str = "",
    progress: ProgressFn | None = None,
    report_pdf: bytes | None = None,
) -> PackResult:
    """Write the pack for ``data`` into ``fileobj`` (seekable or not), entry by entry.

    ``report_pdf_path`` is the stored report's name in Django's default storage. With
    ``report_pdf`` (a stamped copy for an auditor), those bytes are packed instead and the
    manifest says ``"stamped": true``; ``report_sha256`` still names the recorded original.
    """
    now = data.generated_at.astimezone(UTC)
    date_time = (max(now.year, 1980), now.month, now.day, now.hour, now.minute, now.second)
    pem = signing.public_key_pem()
    fingerprint = hashlib.sha256(pem).hexdigest()
    paths = evidence_pack_paths(data)
    bytes_in = 0
    with zipfile.ZipFile(fileobj, "w", allowZip64=True) as zf:
        writer = PackWriter(zf, date_time)
        readme = readme_text(data, signing.public_key_fingerprint(), signing.public_key_url())
        writer.write_bytes("README.txt", readme.encode("utf-8"))
        if report_pdf is not None:
            writer.write_bytes(REPORT_PDF, report_pdf)
        else:
            with default_storage.open(report_pdf_path, "rb") as fh:
                entry = writer.write_chunks(REPORT_PDF, iter(lambda: fh.read(_CHUNK), b""))
            if report_sha256 and entry.sha256 != report_sha256:
                raise PackUnavailable(
                    f"the stored PDF of report {report_id} ({report_pdf_path}) does not match "
                    "the SHA-256 recorded when it was rendered"
                )
        writer.write_bytes(PUBLIC_KEY, pem)
        _write_evidence_index(writer, data, paths)
        writer.write_bytes(WORKBOOK_PATH, audit_workbook_bytes(data, paths))
        tested = [s for s in data.sections if s.assertions]
        for index, section in enumerate(tested, 1):
            ref = section.control.ref
            for item in section.evidence:
                entry = writer.write_chunks(
                    artifact_pack_path(ref, item),
                    artifact_chunks(item.artifact_path),
                    evidence_ids=[item.id],
                    controls=item.controls,
                )
                if entry.sha256 != item.sha256:
                    raise PackUnavailable(
                        f"stored artifact of evidence {item.id} ({item.artifact_path}) does not "
                        "match its recorded SHA-256; run manage.py verify_evidence"
                    )
                bytes_in += entry.size
            _write_tables(writer, section, data)
            if progress:
                progress(10 + 80 * index // max(len(tested), 1), f"Packed {ref}")
        catalog_doc = oscal.catalog_document(framework=data.framework, now=data.generated_at)
        writer.write_bytes(oscal.CATALOG_PATH, oscal.dumps(catalog_doc))
        results_doc = oscal.assessment_results_document(data=data, evidence_paths=paths)
        writer.write_bytes(oscal.RESULTS_PATH, oscal.dumps(results_doc))

        entries = sorted(writer.entries.values(), key=lambda e: e.path)
        manifest = manifest_bytes(
            data=data,
            entries=entries,
            report_id=report_id,
            report_sha256=report_sha256,
            public_key_sha256=fingerprint,
            stamped=report_pdf is not None,
        )
        signature = signing.sign(manifest)
        writer.write_bytes(MANIFEST, manifest)
        writer.write_bytes(SIGNATURE, signature)
        sums = "".join(f"{e.sha256}  {e.path}\n" for e in sorted(
            writer.entries.values(), key=lambda e: e.path))  # fmt: skip
        zf.writestr(writer._info(SUMS), sums.encode("utf-8"))
    return PackResult(
        entries=entries,
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        files=len(entries) + 3,
        bytes_in=bytes_in,
    )


def manifest_bytes(
    *,
    data: ReportData,
    entries: list[PackEntry],
    report_id: int | None,
    report_sha256: str,
    public_key_sha256: str,
    stamped: bool = False,
) -> bytes:
    """The canonical JSON bytes of the manifest (what the signature covers)."""
    report: dict[str, Any] = {"path": REPORT_PDF, "report_id": report_id, "sha256": report_sha256}
    if stamped:
        report["stamped"] = True
    return canonical_bytes(
        {
            "format": "pixaudit-evidence-pack",
            "format_version": PACK_FORMAT,
            "organisation": data.org_name,
            "framework": {
                "key": data.framework.key,
                "name": data.framework.name,
                "version": data.framework.version,
            },
            "period": {"start": data.period.start, "end": data.period.end},
            "engagement_id": data.engagement_id,
            **({"aws_scope": data.aws_scope.as_log()} if data.aws_scope is not None else {}),
            "generated_at": data.generated_at,
            "pixaudit_version": data.version,
            "chain_head": {"seq": data.chain_head_seq, "hash": data.chain_head_hash},
            "report": report,
            "public_key_sha256": public_key_sha256,
            "files": [e.as_manifest() for e in entries],
        }
    )
