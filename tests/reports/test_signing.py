"""The pack signing key: environment, _FILE, development key file, production refusal."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from pixaudit.reports import signing

RAW = bytes(range(32))
B64 = base64.b64encode(RAW).decode()


def _public(raw: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return (
        Ed25519PrivateKey.from_private_bytes(raw)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("PIXAUDIT_SIGNING_KEY", B64)
    assert signing.public_key_pem() == _public(RAW)
    signature = signing.sign(b"manifest")
    Ed25519PrivateKey.from_private_bytes(RAW).public_key().verify(signature, b"manifest")


def test_key_file_variable_is_honoured(monkeypatch, tmp_path):
    path = tmp_path / "key"
    path.write_text(B64 + "\n")
    monkeypatch.delenv("PIXAUDIT_SIGNING_KEY", raising=False)
    monkeypatch.setenv("PIXAUDIT_SIGNING_KEY_FILE", str(path))
    assert signing.public_key_pem() == _public(RAW)


def test_malformed_key_names_the_variable(monkeypatch):
    monkeypatch.setenv("PIXAUDIT_SIGNING_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(ImproperlyConfigured, match="PIXAUDIT_SIGNING_KEY"):
        signing.signing_key()


def test_development_key_is_generated_once_private(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("PIXAUDIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("PIXAUDIT_SIGNING_KEY_FILE", raising=False)
    settings.VAR_DIR = tmp_path
    first = signing.public_key_pem()
    assert signing.public_key_pem() == first
    mode = stat.S_IMODE(os.stat(tmp_path / "signing_key").st_mode)
    assert mode == 0o600


def test_production_without_key_refuses(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("PIXAUDIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("PIXAUDIT_SIGNING_KEY_FILE", raising=False)
    settings.PRODUCTION = True
    settings.VAR_DIR = tmp_path
    with pytest.raises(ImproperlyConfigured, match="PIXAUDIT_SIGNING_KEY"):
        signing.signing_key()
    assert not (tmp_path / "signing_key").exists()
