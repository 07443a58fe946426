"""Evidence packs: contents, manifest, standard-tool verification, tampering, offline check."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pixaudit.evidence.storage import artifact_read
from pixaudit.reports import signing
from pixaudit.reports.verify import verify_pack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.smoke


def _rewrite(src: Path, dst: Path, name: str, mutate) -> None:
    """Copy a ZIP, passing one member's bytes through ``mutate``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, mutate(data) if info.filename == name else data)


def _flip(data: bytes) -> bytes:
    index = len(data) // 2
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_pack_contents_and_manifest(pack_path, stored_report, collected):
    with zipfile.ZipFile(pack_path) as zf:
        names = set(zf.namelist())
        manifest_bytes = zf.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        for required in ("README.txt", "report.pdf", "public_key.pem", "manifest.json",
                         "manifest.sig", "SHA256SUMS", "evidence-index.csv",
                         "oscal/catalog.json", "oscal/assessment-results.json",
                         "controls/CC6.1/results.csv", "controls/CC6.1/results.xlsx",
                         "controls/CC6.1/collections.csv"):  # fmt: skip
            assert required in names
        # The report is the stored file, byte for byte.
        assert hashlib.sha256(zf.read("report.pdf")).hexdigest() == stored_report.sha256
        # Raw artifacts are the stored bytes, in the control's folder.
        artifacts = sorted(n for n in names if n.startswith("controls/CC6.1/evidence/"))
        assert len(artifacts) == len(collected)
        for item, name in zip(sorted(collected, key=lambda i: i.seq), artifacts, strict=True):
            assert zf.read(name) == artifact_read(item.artifact_path)
        results_csv = zf.read("controls/CC6.1/results.csv").decode()
        assert "bucket-logs" in results_csv and ",fail," in results_csv

    from pixaudit.evidence.canonical import canonical_bytes

    assert manifest_bytes == canonical_bytes(manifest)  # canonical JSON bytes
    assert manifest["framework"]["key"] == "soc2-2017"
    assert manifest["chain_head"]["seq"] == max(i.seq for i in collected)
    assert manifest["pixaudit_version"] and manifest["generated_at"]
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json", "manifest.sig", "SHA256SUMS"}
    entry = listed[artifacts[0]]
    assert entry["controls"] == ["CC6.1"] and len(entry["evidence_ids"]) == 1
    with zipfile.ZipFile(pack_path) as zf:
        for path, f in listed.items():
            data = zf.read(path)
            assert (hashlib.sha256(data).hexdigest(), len(data)) == (f["sha256"], f["size"])


def test_verify_pack_ok_and_pinned_key(pack_path, tmp_path):
    result = verify_pack(pack_path, public_key_pem=signing.public_key_pem())
    assert result.ok, result.summary()
    assert result.signature_ok and result.pinned_key_ok

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = verify_pack(pack_path, public_key_pem=other)
    assert not result.ok
    assert any("pinned key" in p for p in result.problems)


def test_sha256sum_and_openssl_accept_the_pack(pack_path, tmp_path):
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(pack_path) as zf:
        zf.extractall(folder)
    done = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len((folder / "SHA256SUMS").read_text().splitlines())

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    command = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem", "-rawin",
               "-in", "manifest.json", "-sigfile", "manifest.sig"]  # fmt: skip
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Signature Verified Successfully" in done.stdout
    # ... and refuses a manifest changed by one byte.
    (folder / "manifest.json").write_bytes(_flip((folder / "manifest.json").read_bytes()))
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    assert done.returncode != 0
    # The python one-liner of the README works too (first with a good manifest).
    with zipfile.ZipFile(pack_path) as zf:
        (folder / "manifest.json").write_bytes(zf.read("manifest.json"))
    readme = (folder / "README.txt").read_text()
    assert "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin" in readme
    assert "sha256sum -c SHA256SUMS" in readme


def test_tampered_file_is_named(pack_path, tmp_path):
    with zipfile.ZipFile(pack_path) as zf:
        victim = next(n for n in zf.namelist() if n.startswith("controls/CC6.1/evidence/"))
    bad = tmp_path / "bad.zip"
    _rewrite(pack_path, bad, victim, _flip)
    result = verify_pack(bad)
    assert not result.ok
    assert any(p.startswith(f"{victim}: SHA-256") for p in result.problems), result.problems
    assert result.signature_ok  # the manifest itself is intact


def test_tampered_manifest_is_named(pack_path, tmp_path):
    bad = tmp_path / "bad-manifest.zip"
    _rewrite(pack_path, bad, "manifest.json", _flip)
    result = verify_pack(bad)
    assert not result.ok
    text = "\n".join(result.problems)
    assert "manifest.sig: signature does not verify over manifest.json" in text
    assert "manifest.json: SHA-256 does not match SHA256SUMS" in text


def test_extra_and_missing_files_are_named(pack_path, tmp_path):
    extra = tmp_path / "extra.zip"
    shutil.copy(pack_path, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("controls/CC6.1/evidence/planted.json", b"{}")
    result = verify_pack(extra)
    assert "controls/CC6.1/evidence/planted.json: in the pack but not listed in manifest.json" in (
        result.problems
    )
    missing = tmp_path / "missing.zip"
    with zipfile.ZipFile(pack_path) as zin, zipfile.ZipFile(missing, "w") as zout:
        for info in zin.infolist():
            if info.filename != "evidence-index.csv":
                zout.writestr(info, zin.read(info.filename))
    result = verify_pack(missing)
    assert "evidence-index.csv: listed in manifest.json but missing from the pack" in (
        result.problems
    )


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS"))}
    env.update(
        DJANGO_SETTINGS_MODULE="pixaudit.settings",
        PIXAUDIT_ENV="test",
        PIXAUDIT_VAR_DIR=str(tmp_path / "var"),
        # Nothing listens on port 1: any database access would fail loudly.
        DATABASE_URL="postgres://postgres@127.0.0.1:1/unreachable",
    )
    return env


def test_verify_pack_command_needs_no_database(pack_path, tmp_path):
    env = _offline_env(tmp_path)
    key = tmp_path / "published.pem"
    key.write_bytes(signing.public_key_pem())
    command = [sys.executable, str(ROOT / "manage.py"), "verify_pack"]
    done = subprocess.run(
        [*command, str(pack_path), "--public-key", str(key)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:")

    bad = tmp_path / "bad.zip"
    _rewrite(pack_path, bad, "evidence-index.csv", _flip)
    done = subprocess.run(
        [*command, str(bad)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "evidence-index.csv: SHA-256" in done.stderr
