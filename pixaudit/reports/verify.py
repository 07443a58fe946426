"""Offline verification of an evidence pack: zipfile, hashlib and cryptography only.

Nothing here imports Django or touches a database, so ``manage.py verify_pack`` (and
``python -m pixaudit.reports.verify``) work on an auditor's laptop with the pack alone. The
checks, each of which names the file that fails:

- the pack has ``manifest.json``, ``manifest.sig``, ``SHA256SUMS`` and ``public_key.pem``;
- ``manifest.sig`` is a valid Ed25519 signature over the exact bytes of ``manifest.json``
  under the pack's ``public_key.pem``, and, when given, under the pinned public key (the one
  the organisation published: a PEM file, its fingerprint, or fetched over HTTPS from the
  instance's published URL) too;
- every file in the manifest is present with the recorded size and SHA-256, and the pack
  holds no file the manifest does not list;
- ``SHA256SUMS`` lists exactly the manifest's files plus ``manifest.json`` and
  ``manifest.sig``, each with the digest recomputed from the pack;
- every entry name is a plain relative path (no ``..``, absolute path, drive, backslash or
  control character), no two names differ only in case, and no path is listed twice: what
  was checked is what an unzip tool writes, wherever the pack is unpacked.

A signature under the key a pack carries proves only that the pack is internally consistent:
anyone can rebuild a pack, sign it with a fresh key and embed that key. Only a pinned key
says who made the pack, so :func:`verify_cli` (``manage.py verify_pack`` and ``python -m
pixaudit.reports.verify``) refuses to call an unpinned pack verified: it exits
:data:`EXIT_UNPINNED` unless the user accepts the embedded key explicitly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
PUBLIC_KEY = "public_key.pem"
#: Where a pixaudit instance publishes its signing key (anonymous GET).
PUBLISHED_KEY_PATH = "/.well-known/pixaudit-signing-key.pem"
FINGERPRINT_PREFIX = "SHA256:"
_CHUNK = 1024 * 1024
_KEY_MAX_BYTES = 64 * 1024

EXIT_OK = 0
EXIT_FAILED = 1  # a file, the manifest or the signature is wrong, or the key is not the pin
EXIT_USAGE = 2
EXIT_UNPINNED = 3  # intact, but signed by a key nobody vouched for


def fingerprint_of(pem: bytes) -> str:
    """``SHA256:<hex>`` of the PEM file's bytes (what ``sha256sum public_key.pem`` prints)."""
    return FINGERPRINT_PREFIX + hashlib.sha256(pem).hexdigest()


def fingerprint_parse(text: str) -> str:
    """The 64 lowercase hex digits of ``SHA256:<hex>`` or ``<hex>`` (colons and spaces
    between digits allowed); ``ValueError`` with a clear message otherwise."""
    value = text.strip()
    if value.upper().startswith(FINGERPRINT_PREFIX):
        value = value[len(FINGERPRINT_PREFIX) :]
    value = re.sub(r"[\s:]", "", value).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(
            f"{text!r} is not a key fingerprint: expected SHA256: followed by 64 hex digits "
            "(the SHA-256 of the published public_key.pem)"
        )
    return value


class KeyFetchError(Exception):
    """The published key could not be fetched (the message says why)."""


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme != "https":
            raise KeyFetchError(f"{req.full_url} redirects to {newurl}, which is not HTTPS")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def published_key_url(url: str) -> str:
    """``url`` itself, or the instance's well-known key path when ``url`` has no path."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.path in ("", "/"):
        parts = parts._replace(path=PUBLISHED_KEY_PATH)
    return urllib.parse.urlunsplit(parts)


def fetch_public_key(url: str, *, timeout: float = 15.0) -> bytes:
    """The PEM an instance publishes at ``url`` (HTTPS only, certificate checked).

    A key fetched over plain HTTP could be swapped by anyone on the path, which would make
    pinning it worthless, so HTTP (and a redirect to HTTP) is refused.
    """
    url = published_key_url(url)
    if urllib.parse.urlsplit(url).scheme != "https":
        raise KeyFetchError(f"{url}: the published key must be fetched over https://")
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context()), _NoDowngrade()
    )
    request = urllib.request.Request(url, headers={"Accept": "application/x-pem-file"})
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(_KEY_MAX_BYTES + 1)
    except KeyFetchError:
        raise
    except urllib.error.HTTPError as exc:
        raise KeyFetchError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KeyFetchError(f"{url}: cannot fetch the published key ({reason})") from None
    if len(body) > _KEY_MAX_BYTES or b"-----BEGIN PUBLIC KEY-----" not in body:
        raise KeyFetchError(f"{url}: the answer is not a PEM public key")
    return body


def _raw_public_key(pem: bytes) -> bytes | None:
    """The raw 32 bytes of an Ed25519 PEM public key; None when it is not one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    try:
        key = load_pem_public_key(pem)
    except ValueError:
        return None
    if not isinstance(key, Ed25519PublicKey):
        return None
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    signature_ok: bool = False
    #: None: no key was pinned; True: signed by the pinned key; False: not by the pinned key.
    pinned_key_ok: bool | None = None
    pinned_by: str = ""  # "public key file", "fingerprint", "published key (URL)"
    embedded_fingerprint: str = ""

    @property
    def ok(self) -> bool:
        """Every file, the manifest and the signature check out (and match the pin, if any).

        This says nothing about *who* signed an unpinned pack: see :attr:`authenticated`.
        """
        return not self.problems

    @property
    def authenticated(self) -> bool:
        """Intact *and* signed by the pinned key: the pack is the organisation's."""
        return self.ok and self.pinned_key_ok is True

    def summary(self) -> str:
        if not self.ok:
            return "FAILED:\n" + "\n".join(f"  - {p}" for p in self.problems)
        intact = (
            f"{self.checked_files} files match manifest.json and SHA256SUMS, and manifest.sig "
            "is a valid signature"
        )
        if self.authenticated:
            return (
                f"OK: {intact} by the pinned key ({self.pinned_by}, {self.embedded_fingerprint})."
            )
        return (
            f"NOT AUTHENTICATED: {intact} under the key the pack itself carries "
            f"({self.embedded_fingerprint}). Anyone can rebuild a pack and sign it with a key "
            "of their own, so this signature proves nothing about who made the pack.\n"
            "Pin the organisation's published key: --public-key FILE, --fingerprint "
            "SHA256:<hex> (from the organisation's signing key page, `manage.py signing_key "
            "--fingerprint` or the auditor's engagement page) or --key-url https://<instance>; "
            "or accept the pack's own key explicitly with --trust-embedded-key."
        )


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


def verify_pack(
    path: str | Path,
    *,
    public_key_pem: bytes | None = None,
    fingerprint: str | None = None,
    pinned_by: str = "",
) -> VerifyReport:
    """Check a pack file; see the module docstring for what is checked.

    Pin the signer with ``public_key_pem`` (the published PEM) or ``fingerprint``
    (``SHA256:<hex>`` of the published PEM file); without either, ``pinned_key_ok`` stays
    None and the report is not :attr:`~VerifyReport.authenticated`.
    """
    report = VerifyReport(pinned_by=pinned_by)
    expected_fp = fingerprint_parse(fingerprint) if fingerprint is not None else None
    if public_key_pem is not None and not report.pinned_by:
        report.pinned_by = "public key file"
    if expected_fp is not None and not report.pinned_by:
        report.pinned_by = "fingerprint"
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

        report.embedded_fingerprint = fingerprint_of(pack_pem)
        problem = _verify_signature(pack_pem, manifest_bytes, signature, PUBLIC_KEY)
        if problem:
            problems.append(problem)
        else:
            report.signature_ok = True
        if public_key_pem is not None:
            problem = _verify_signature(public_key_pem, manifest_bytes, signature, "pinned key")
            same_key = _raw_public_key(pack_pem) == _raw_public_key(public_key_pem)
            report.pinned_key_ok = not problem and same_key
            if problem:
                problems.append(
                    f"{problem}: the pack was not signed by the pinned key, so it was not made "
                    "by the instance that published it"
                )
            if not same_key:
                problems.append(f"{PUBLIC_KEY}: differs from the pinned public key")
        if expected_fp is not None:
            matches = hashlib.sha256(pack_pem).hexdigest() == expected_fp
            by_fp = matches and report.signature_ok
            report.pinned_key_ok = by_fp and report.pinned_key_ok is not False
            if not matches:
                problems.append(
                    f"{PUBLIC_KEY}: its fingerprint {report.embedded_fingerprint} is not the "
                    f"pinned {FINGERPRINT_PREFIX}{expected_fp}: the pack was not signed by the "
                    "published key, so it was not made by the instance that published it"
                )

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verifier's options (shared by ``manage.py verify_pack`` and ``python -m``)."""
    parser.add_argument("pack", help="The evidence pack (ZIP) to verify.")
    pin = parser.add_argument_group(
        "pinning the signer (the pack's own key proves nothing about who made it)"
    )
    pin.add_argument("--public-key", metavar="FILE", help="PEM file of the published key.")
    pin.add_argument(
        "--fingerprint",
        metavar="SHA256:HEX",
        help="Fingerprint of the published key (SHA-256 of its PEM file).",
    )
    pin.add_argument(
        "--key-url",
        metavar="URL",
        help="Fetch the published key over HTTPS: the instance's address "
        f"(https://host, {PUBLISHED_KEY_PATH} is added) or the key's full URL.",
    )
    pin.add_argument(
        "--trust-embedded-key",
        action="store_true",
        help="Accept the key inside the pack without pinning it (exit 0 when intact): the "
        "signature then proves nothing about who made the pack.",
    )


def verify_cli(
    *,
    pack: str,
    public_key: str | None = None,
    fingerprint: str | None = None,
    key_url: str | None = None,
    trust_embedded_key: bool = False,
) -> tuple[int, str]:
    """Run the verifier as the command line does: ``(exit code, text to print)``.

    Exit codes: :data:`EXIT_OK` (intact and signed by the pinned key, or intact and the
    embedded key explicitly accepted), :data:`EXIT_FAILED`, :data:`EXIT_USAGE` (bad
    options, unreadable key, key URL unreachable) and :data:`EXIT_UNPINNED` (intact, but
    nothing says who signed it).
    """
    pins = [p for p in (public_key, fingerprint, key_url) if p]
    if len(pins) > 1:
        return EXIT_USAGE, "give one of --public-key, --fingerprint and --key-url, not several"
    if pins and trust_embedded_key:
        return EXIT_USAGE, "--trust-embedded-key makes no sense with a pinned key"
    pem: bytes | None = None
    pinned_by = ""
    if public_key:
        try:
            pem = Path(public_key).read_bytes()
        except OSError as exc:
            return EXIT_USAGE, f"cannot read {public_key}: {exc.strerror or exc}"
        if _raw_public_key(pem) is None:
            return EXIT_USAGE, f"{public_key}: not an Ed25519 PEM public key"
        pinned_by = f"public key file {public_key}"
    elif key_url:
        try:
            pem = fetch_public_key(key_url)
        except KeyFetchError as exc:
            return EXIT_USAGE, str(exc)
        if _raw_public_key(pem) is None:
            return EXIT_USAGE, f"{published_key_url(key_url)}: not an Ed25519 PEM public key"
        pinned_by = f"published key {published_key_url(key_url)}"
    elif fingerprint:
        try:
            fingerprint_parse(fingerprint)
        except ValueError as exc:
            return EXIT_USAGE, str(exc)
        pinned_by = "fingerprint"
    result = verify_pack(pack, public_key_pem=pem, fingerprint=fingerprint, pinned_by=pinned_by)
    text = result.summary()
    if not result.ok:
        return EXIT_FAILED, text
    if result.authenticated:
        return EXIT_OK, text
    if trust_embedded_key:
        return EXIT_OK, text + "\n(--trust-embedded-key: accepted without a pinned key.)"
    return EXIT_UNPINNED, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a pixaudit evidence pack offline.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    code, text = verify_cli(
        pack=args.pack,
        public_key=args.public_key,
        fingerprint=args.fingerprint,
        key_url=args.key_url,
        trust_embedded_key=args.trust_embedded_key,
    )
    print(text, file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
