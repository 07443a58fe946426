"""Offline verification of an evidence pack: zipfile, hashlib and cryptography only.

Nothing here imports Django or touches a database, so ``manage.py verify_pack`` (and
``python -m pixaudit.reports.verify``) work on an auditor's laptop with the pack alone. The
checks, each of which names the file that fails:

- the pack has ``manifest.json``, ``manifest.sig``, ``SHA256SUMS`` and ``public_key.pem``;
- ``manifest.sig`` is a valid Ed25519 signature over the exact bytes of ``manifest.json``
  under the pack's ``public_key.pem``, and, when given, under the pinned public key (the one
  the organisation published) too;
- every file in the manifest is present with the recorded size and SHA-256, and the pack
  holds no file the manifest does not list;
- ``SHA256SUMS`` lists exactly the manifest's files plus ``manifest.json`` and
  ``manifest.sig``, each with the digest recomputed from the pack;
- every entry name is a plain relative path (no ``..``, absolute path, drive, backslash or
  control character), no two names differ only in case, and no path is listed twice: what
  was checked is what an unzip tool writes, wherever the pack is unpacked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
PUBLIC_KEY = "public_key.pem"
_CHUNK = 1024 * 1024


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    signature_ok: bool = False
    pinned_key_ok: bool | None = None  # None: no pinned key given

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            pinned = " and the pinned public key" if self.pinned_key_ok else ""
            return (
                f"OK: {self.checked_files} files match manifest.json and SHA256SUMS; "
                f"the signature is valid under the pack's public key{pinned}."
            )
        return "FAILED:\n" + "\n".join(f"  - {p}" for p in self.problems)


#: What reading a damaged member can raise (bad CRC, bad deflate data, truncation, ...).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


def _unsafe_name(name: str) -> bool:
    """True unless ``name`` is a plain relative path with ordinary, non-empty components."""
    if not name or name.startswith("/") or "\\" in name or ":" in name:
        return True
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return True
    return any(part in ("", ".", "..") for part in name.split("/"))


def _sha256_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with zf.open(name) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _verify_signature(public_pem: bytes, manifest: bytes, signature: bytes, label: str) -> str:
    """An empty string when valid, else what is wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(public_pem)
    except ValueError as exc:
        return f"{label}: not a PEM public key ({exc})"
    if not isinstance(key, Ed25519PublicKey):
        return f"{label}: not an Ed25519 public key"
    try:
        key.verify(signature, manifest)
    except InvalidSignature:
        return f"{SIGNATURE}: signature does not verify over {MANIFEST} under {label}"
    return ""


def _parse_sums(text: str, problems: list[str]) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep:
            digest, sep, name = line.partition(" *")
        if not sep or len(digest) != 64:
            problems.append(f"{SUMS}: line {number} is malformed")
            continue
        if name in sums:
            problems.append(f"{SUMS}: {name} is listed twice")
        sums[name] = digest.lower()
    return sums


def verify_pack(path: str | Path, *, public_key_pem: bytes | None = None) -> VerifyReport:
    """Check a pack file; see the module docstring for what is checked."""
    report = VerifyReport()
    problems = report.problems
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        problems.append(f"{path}: not a readable ZIP file ({exc})")
        return report
    with zf:
        names = zf.namelist()
        present = set(names)
        if len(present) != len(names):
            problems.append("the ZIP holds two entries with the same name")
        for name in sorted(n for n in present if _unsafe_name(n)):
            problems.append(f"{name!r}: unsafe entry name (absolute, '..' or not a plain path)")
        folded: dict[str, str] = {}
        for name in sorted(present):
            if name.casefold() in folded:
                problems.append(f"{name}: differs only in case from {folded[name.casefold()]}")
            folded.setdefault(name.casefold(), name)
        missing = [n for n in (MANIFEST, SIGNATURE, SUMS, PUBLIC_KEY) if n not in present]
        if missing:
            problems.extend(f"{name}: missing from the pack" for name in missing)
            return report
        try:
            manifest_bytes = zf.read(MANIFEST)
            signature = zf.read(SIGNATURE)
            pack_pem = zf.read(PUBLIC_KEY)
            sums_bytes = zf.read(SUMS)
        except _READ_ERRORS as exc:
            problems.append(f"{MANIFEST}, {SIGNATURE}, {PUBLIC_KEY} or {SUMS}: unreadable ({exc})")
            return report

        problem = _verify_signature(pack_pem, manifest_bytes, signature, PUBLIC_KEY)
        if problem:
            problems.append(problem)
        else:
            report.signature_ok = True
        if public_key_pem is not None:
            problem = _verify_signature(public_key_pem, manifest_bytes, signature, "pinned key")
            report.pinned_key_ok = not problem
            if problem:
                problems.append(problem)
            if pack_pem.strip() != public_key_pem.strip():
                problems.append(f"{PUBLIC_KEY}: differs from the pinned public key")

        try:
            manifest = json.loads(manifest_bytes)
            listed = [f["path"] for f in manifest["files"]]
            files = {f["path"]: f for f in manifest["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{MANIFEST}: not a pixaudit manifest ({exc})")
            return report
        for name in sorted(n for n, k in Counter(listed).items() if k > 1):
            problems.append(f"{name}: listed twice in {MANIFEST}")
        for name in sorted(n for n in set(listed) - present if _unsafe_name(str(n))):
            problems.append(f"{name!r}: unsafe path in {MANIFEST}")
        if manifest.get("public_key_sha256") not in (None, hashlib.sha256(pack_pem).hexdigest()):
            problems.append(f"{PUBLIC_KEY}: its SHA-256 differs from the one in {MANIFEST}")

        own = {MANIFEST, SIGNATURE, SUMS}
        for name in sorted(present - set(files) - own):
            problems.append(f"{name}: in the pack but not listed in {MANIFEST}")
        actual: dict[str, str] = {}
        for name, entry in sorted(files.items()):
            if name not in present:
                problems.append(f"{name}: listed in {MANIFEST} but missing from the pack")
                continue
            try:
                digest, size = _sha256_member(zf, name)
            except _READ_ERRORS as exc:
                problems.append(f"{name}: cannot be read from the ZIP ({exc})")
                continue
            actual[name] = digest
            report.checked_files += 1
            if digest != entry.get("sha256"):
                problems.append(f"{name}: SHA-256 {digest} does not match {MANIFEST}")
            if size != entry.get("size"):
                recorded = entry.get("size")
                problems.append(f"{name}: size {size} does not match {MANIFEST} ({recorded})")
        actual[MANIFEST] = hashlib.sha256(manifest_bytes).hexdigest()
        actual[SIGNATURE] = hashlib.sha256(signature).hexdigest()

        try:
            sums = _parse_sums(sums_bytes.decode("utf-8"), problems)
        except UnicodeDecodeError:
            problems.append(f"{SUMS}: not UTF-8 text")
            return report
        for name in sorted(set(actual) - set(sums)):
            problems.append(f"{name}: not listed in {SUMS}")
        for name, digest in sorted(sums.items()):
            if name not in actual:
                problems.append(f"{name}: listed in {SUMS} but not in the pack's manifest")
            elif digest != actual[name]:
                problems.append(f"{name}: SHA-256 does not match {SUMS}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a pixaudit evidence pack offline.")
    parser.add_argument("pack")
    parser.add_argument("--public-key", help="PEM file of the published public key to pin")
    args = parser.parse_args(argv)
    pinned = Path(args.public_key).read_bytes() if args.public_key else None
    result = verify_pack(args.pack, public_key_pem=pinned)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
