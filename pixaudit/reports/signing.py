"""The Ed25519 key that signs evidence-pack manifests.

``PIXAUDIT_SIGNING_KEY`` holds the raw 32-byte private key, base64-encoded
(``PIXAUDIT_SIGNING_KEY_FILE`` is honoured, like every secret). Without it, development and
test machines generate a key once under ``VAR_DIR/signing_key`` (mode 0600); production
refuses to start signing without it. The public key is published by the app (anonymously
at ``/.well-known/pixaudit-signing-key.pem``, on the signing key and engagement pages, and
by ``manage.py signing_key --public``) and shipped inside every pack; the copy in a pack
proves nothing by itself, so an auditor pins the published key (or its fingerprint) and
checks each pack against it.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pixaudit.lib.env import env_str
from pixaudit.reports.verify import PUBLISHED_KEY_PATH, fingerprint_of

ENV_NAME = "PIXAUDIT_SIGNING_KEY"


def _decode(raw: str, source: str) -> Ed25519PrivateKey:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{source} is not valid base64") from None
    if len(key) != 32:
        raise ImproperlyConfigured(
            f"{source} must be a base64-encoded raw 32-byte Ed25519 private key "
            f"(got {len(key)} bytes)"
        )
    return Ed25519PrivateKey.from_private_bytes(key)


def _development_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        raw = base64.b64encode(os.urandom(32)).decode("ascii")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(raw + "\n")
    return _decode(path.read_text(encoding="ascii"), str(path))


def signing_key() -> Ed25519PrivateKey:
    """The private key (read on each call: rotating the environment needs no code change)."""
    raw = env_str(ENV_NAME)
    if raw:
        return _decode(raw, ENV_NAME)
    if settings.PRODUCTION:
        raise ImproperlyConfigured(
            f"{ENV_NAME} (or {ENV_NAME}_FILE) must be set when PIXAUDIT_ENV=production: "
            "the base64 of a raw 32-byte Ed25519 private key, e.g. "
            '`python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"`'
        )
    try:
        return _development_key(Path(settings.VAR_DIR) / "signing_key")
    except FileExistsError:  # another process created it between exists() and open()
        return _development_key(Path(settings.VAR_DIR) / "signing_key")


def public_key_pem() -> bytes:
    """The public key as a SubjectPublicKeyInfo PEM (what openssl's ``-pubin`` reads)."""
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def public_key_fingerprint() -> str:
    """``SHA256:<hex>`` of the PEM bytes (``sha256sum`` of the published file prints the
    same digits); what ``verify_pack --fingerprint`` pins."""
    return fingerprint_of(public_key_pem())


def public_key_url() -> str:
    """The absolute URL where this instance publishes its public key (anonymous GET)."""
    return settings.PIXAUDIT_BASE_URL.rstrip("/") + PUBLISHED_KEY_PATH


def sign(data: bytes) -> bytes:
    """Detached Ed25519 signature (64 bytes) over ``data``."""
    return signing_key().sign(data)
