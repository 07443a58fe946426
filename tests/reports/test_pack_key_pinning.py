"""verify_pack pins who signed a pack (issue 12.4).

A pack rebuilt with a changed results.csv, re-hashed and signed with a fresh key embedded as
public_key.pem is internally consistent: only a pinned key (a PEM file, its fingerprint, or
the key fetched over HTTPS from the instance's published URL) tells it from the
organisation's. Without a pin the verifier says so plainly and exits 3 unless the user
accepts the embedded key explicitly.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import ssl
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from pixaudit.evidence.canonical import canonical_bytes
from pixaudit.reports import packs, signing
from pixaudit.reports.verify import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNPINNED,
    EXIT_USAGE,
    PUBLISHED_KEY_PATH,
    verify_cli,
    verify_pack,
)
from tests.reports.test_packs import ROOT, _offline_env

TAMPERED = "controls/CC6.1/results.csv"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _forge(src: Path, dst: Path) -> bytes:
    """What an attacker without the organisation's private key can do: change results.csv
    (a failing bucket now passes), re-hash every file, sign the manifest with a fresh key and
    embed that key as public_key.pem. Returns the forger's PEM."""
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    own = (packs.MANIFEST, packs.SIGNATURE, packs.SUMS)
    with zipfile.ZipFile(src) as zin:
        members = {n: zin.read(n) for n in zin.namelist() if n not in own}
        manifest = json.loads(zin.read(packs.MANIFEST))
    assert b",fail," in members[TAMPERED]
    members[TAMPERED] = members[TAMPERED].replace(b",fail,", b",pass,")
    members[packs.PUBLIC_KEY] = pem
    for entry in manifest["files"]:
        data = members[entry["path"]]
        entry["sha256"], entry["size"] = _sha(data), len(data)
    manifest["public_key_sha256"] = _sha(pem)
    manifest_bytes = canonical_bytes(manifest)
    everything = {**members, packs.MANIFEST: manifest_bytes,
                  packs.SIGNATURE: key.sign(manifest_bytes)}  # fmt: skip
    sums = "".join(f"{_sha(data)}  {name}\n" for name, data in sorted(everything.items()))
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in everything.items():
            zout.writestr(name, data)
        zout.writestr(packs.SUMS, sums)
    return pem


@pytest.fixture
def forged(pack_path, tmp_path) -> Path:
    path = tmp_path / "forged.zip"
    _forge(pack_path, path)
    return path


@pytest.fixture
def published_pem(tmp_path) -> Path:
    path = tmp_path / "published.pem"
    path.write_bytes(signing.public_key_pem())
    return path


def _command(*args: str) -> tuple[int, str]:
    """Run ``manage.py verify_pack`` in-process: (exit code, what it printed)."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_pack", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def test_forged_pack_is_intact_but_not_authenticated(forged):
    result = verify_pack(forged)
    assert result.ok and result.signature_ok  # every hash and the signature check out ...
    assert not result.authenticated and result.pinned_key_ok is None  # ... under its own key
    summary = result.summary()
    assert summary.startswith("NOT AUTHENTICATED")
    assert "proves nothing about who made the pack" in summary
    assert "--public-key" in summary and "--fingerprint" in summary and "--key-url" in summary


def test_forged_pack_is_refused_when_the_key_is_pinned(forged):
    by_pem = verify_pack(forged, public_key_pem=signing.public_key_pem())
    assert not by_pem.ok and by_pem.pinned_key_ok is False
    assert any("not signed by the pinned key" in p for p in by_pem.problems), by_pem.problems
    assert "public_key.pem: differs from the pinned public key" in by_pem.problems

    by_fingerprint = verify_pack(forged, fingerprint=signing.public_key_fingerprint())
    assert not by_fingerprint.ok and not by_fingerprint.authenticated
    assert any(
        p.startswith("public_key.pem: its fingerprint") and "not the pinned" in p
        for p in by_fingerprint.problems
    ), by_fingerprint.problems


def test_verify_pack_command_forged_pack(forged, published_pem):
    fingerprint = signing.public_key_fingerprint()
    code, text = _command(str(forged), "--public-key", str(published_pem))
    assert code == EXIT_FAILED and "not signed by the pinned key" in text
    code, text = _command(str(forged), "--fingerprint", fingerprint)
    assert code == EXIT_FAILED and f"not the pinned {fingerprint}" in text
    # No pin: not an error in the files, but not "verified" either.
    code, text = _command(str(forged))
    assert code == EXIT_UNPINNED
    assert "proves nothing about who made the pack" in text
    # Only explicit acceptance exits 0, and the output still says what was accepted.
    code, text = _command(str(forged), "--trust-embedded-key")
    assert code == EXIT_OK
    assert text.startswith("NOT AUTHENTICATED") and "accepted without a pinned key" in text


def test_verify_pack_command_genuine_pack(pack_path, published_pem):
    fingerprint = signing.public_key_fingerprint()
    assert fingerprint.startswith("SHA256:") and len(fingerprint) == 7 + 64
    for args in (("--public-key", str(published_pem)), ("--fingerprint", fingerprint),
                 ("--fingerprint", fingerprint.removeprefix("SHA256:").upper())):  # fmt: skip
        code, text = _command(str(pack_path), *args)
        assert code == EXIT_OK, text
        assert text.startswith("OK:") and "by the pinned key" in text and fingerprint in text
    code, text = _command(str(pack_path))
    assert code == EXIT_UNPINNED and "proves nothing about who made the pack" in text
    assert _command(str(pack_path), "--trust-embedded-key")[0] == EXIT_OK


def test_verify_pack_command_usage_errors(pack_path, published_pem, tmp_path):
    fingerprint = signing.public_key_fingerprint()
    code, text = _command(str(pack_path), "--public-key", str(published_pem),
                          "--fingerprint", fingerprint)  # fmt: skip
    assert code == EXIT_USAGE and "not several" in text
    code, text = _command(str(pack_path), "--fingerprint", "SHA256:abc")
    assert code == EXIT_USAGE and "64 hex digits" in text
    code, text = _command(str(pack_path), "--fingerprint", fingerprint, "--trust-embedded-key")
    assert code == EXIT_USAGE
    code, text = _command(str(pack_path), "--public-key", str(tmp_path / "missing.pem"))
    assert code == EXIT_USAGE and "cannot read" in text
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    code, text = _command(str(pack_path), "--public-key", str(not_a_key))
    assert code == EXIT_USAGE and "not an Ed25519 PEM public key" in text


def test_unpinned_exit_status_of_the_real_command(pack_path, tmp_path):
    """Through ``manage.py`` (no database): exit 3 without a pin, 0 with the fingerprint."""
    env = _offline_env(tmp_path)
    command = [sys.executable, str(ROOT / "manage.py"), "verify_pack", str(pack_path)]
    run = dict(cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    done = subprocess.run(command, **run)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "proves nothing about who made the pack" in done.stderr
    done = subprocess.run([*command, "--fingerprint", signing.public_key_fingerprint()], **run)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:")


# --- The published key --------------------------------------------------------------------


def test_public_endpoint_serves_the_key_to_anyone(db):
    url = reverse("signing_key_public")
    assert url == PUBLISHED_KEY_PATH
    response = Client().get(url)
    assert response.status_code == 200
    assert response.content == signing.public_key_pem()
    assert response["Content-Type"] == "application/x-pem-file"
    assert Client().post(url).status_code == 405


class _KeyServer(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self):  # noqa: N802 - the stdlib's name
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def key_server(tmp_path, monkeypatch) -> Iterator[tuple[str, dict]]:
    """An HTTPS server on localhost (throwaway CA, trusted through SSL_CERT_FILE)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    handler = type("Handler", (_KeyServer,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


def test_key_url_pins_the_published_key(db, pack_path, forged, key_server):
    base, routes = key_server
    # The instance's public endpoint is what the server publishes.
    published = Client().get(reverse("signing_key_public")).content
    routes[PUBLISHED_KEY_PATH] = (200, {"Content-Type": "application/x-pem-file"}, published)
    code, text = verify_cli(pack=str(pack_path), key_url=base)  # the well-known path is added
    assert code == EXIT_OK, text
    assert f"published key {base}{PUBLISHED_KEY_PATH}" in text
    code, text = verify_cli(pack=str(forged), key_url=base + PUBLISHED_KEY_PATH)
    assert code == EXIT_FAILED and "not signed by the pinned key" in text


def test_key_url_must_be_https_and_a_key(db, pack_path, key_server):
    base, routes = key_server
    code, text = verify_cli(pack=str(pack_path), key_url=base.replace("https:", "http:"))
    assert code == EXIT_USAGE and "must be fetched over https://" in text
    routes["/moved.pem"] = (302, {"Location": "http://localhost:1/key.pem"}, b"")
    code, text = verify_cli(pack=str(pack_path), key_url=base + "/moved.pem")
    assert code == EXIT_USAGE and "which is not HTTPS" in text
    routes["/page.pem"] = (200, {"Content-Type": "text/html"}, b"<html>sign in</html>")
    code, text = verify_cli(pack=str(pack_path), key_url=base + "/page.pem")
    assert code == EXIT_USAGE and "not a PEM public key" in text
    code, text = verify_cli(pack=str(pack_path), key_url=base + "/missing.pem")
    assert code == EXIT_USAGE and "404" in text


def test_readme_and_command_give_the_fingerprint(pack_path, capsys):
    fingerprint = signing.public_key_fingerprint()
    with zipfile.ZipFile(pack_path) as zf:
        readme = zf.read("README.txt").decode()
    assert f"Signing key:  {fingerprint}" in readme
    assert signing.public_key_url() in readme
    assert f"manage.py verify_pack pack.zip --fingerprint {fingerprint}" in readme
    assert "proves nothing by itself" in readme
    call_command("signing_key", "--fingerprint")
    assert capsys.readouterr().out.strip() == fingerprint
    call_command("signing_key", "--public")
    captured = capsys.readouterr()
    assert captured.out.encode() == signing.public_key_pem()  # pipe-able as a PEM file
    assert fingerprint in captured.err and signing.public_key_url() in captured.err
