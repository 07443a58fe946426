"""AES-256-GCM encryption of connection secrets at rest.

Keys come from ``PIXAUDIT_FIELD_KEYS`` (or ``PIXAUDIT_FIELD_KEYS_FILE``): comma-separated
base64 encodings of 32-byte keys. The first key encrypts; every listed key decrypts, so a key
is rotated by prepending a new one, running ``manage.py rotate_secrets_key`` and then dropping
the old one. Outside production, when the variable is unset, a development key is generated
once under ``VAR_DIR/field_keys`` (mode 0600); in production a missing key stops with
``ImproperlyConfigured``.

Token format (ASCII, fits a JSON string)::

    v1:<key id>:<urlsafe-b64(nonce(12) | ciphertext | tag(16))>

The key id is the first 8 hex digits of SHA-256(key): it names the key without revealing it,
and lets rotation find tokens that are not under the current key. The associated data binds a
token to where it is stored (e.g. ``connection:12:api_token``), so a ciphertext copied to
another connection or another param does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pixaudit.lib.env import env_str

__all__ = [
    "ENV_VAR",
    "DecryptionError",
    "current_key_id",
    "decrypt",
    "encrypt",
    "generate_key",
    "key_id_of",
    "secret_aad",
]

ENV_VAR = "PIXAUDIT_FIELD_KEYS"
_VERSION = "v1"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A token could not be decrypted (unknown key, tampered, or bound to another place)."""


@dataclass(frozen=True)
class _Key:
    id: str
    aead: AESGCM


def generate_key() -> str:
    """A fresh random key in the ``PIXAUDIT_FIELD_KEYS`` format (base64 of 32 bytes)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:8]


def _parse_keys(text: str, source: str) -> tuple[_Key, ...]:
    keys = []
    for position, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            raw = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                f"{source}: key #{position + 1} is not valid base64"
            ) from None
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{source}: key #{position + 1} is {len(raw)} bytes, AES-256 needs 32 "
                f"(generate one with: python -c 'import base64,os;"
                f"print(base64.b64encode(os.urandom(32)).decode())')"
            )
        keys.append(_Key(_key_id(raw), AESGCM(raw)))
    if not keys:
        raise ImproperlyConfigured(f"{source} lists no key")
    return tuple(keys)


def _development_keys_text() -> str:
    # Generated once so a dev database's secrets survive restarts; never used in production.
    path = settings.VAR_DIR / "field_keys"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(generate_key())
    return path.read_text(encoding="ascii").strip()


_cache: dict[str, tuple[_Key, ...]] = {}


def _keyring() -> tuple[_Key, ...]:
    """The configured keys, current first (re-read from the environment on each call)."""
    text = env_str(ENV_VAR)
    if text is not None and text.strip():
        source = ENV_VAR
    else:
        if getattr(settings, "PRODUCTION", False):
            raise ImproperlyConfigured(
                f"{ENV_VAR} must be set when PIXAUDIT_ENV=production (comma-separated base64 "
                f"32-byte keys, current first); it encrypts collector secrets at rest"
            )
        text = _development_keys_text()
        source = f"development key file {settings.VAR_DIR / 'field_keys'}"
    keys = _cache.get(text)
    if keys is None:
        keys = _parse_keys(text, source)
        _cache.clear()  # only the current configuration is worth keeping
        _cache[text] = keys
    return keys


def current_key_id() -> str:
    """Id of the key new tokens are encrypted with."""
    return _keyring()[0].id


def key_id_of(token: str) -> str:
    """The key id a token was encrypted with (no decryption)."""
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != _VERSION:
        raise DecryptionError("not a pixaudit secret token")
    return parts[1]


def secret_aad(kind: str, object_id: int, name: str) -> str:
    """Associated data binding a secret to its place: ``<kind>:<id>:<param name>``."""
    return f"{kind}:{object_id}:{name}"


def encrypt(plaintext: str, *, aad: str) -> str:
    """Encrypt ``plaintext`` under the current key, bound to ``aad``."""
    key = _keyring()[0]
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = key.aead.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
    payload = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
    return f"{_VERSION}:{key.id}:{payload}"


def decrypt(token: str, *, aad: str) -> str:
    """Decrypt a token made by :func:`encrypt` with any configured key.

    Raises :class:`DecryptionError` without echoing the token: the message is safe to log.
    """
    key_id = key_id_of(token)
    key = next((k for k in _keyring() if k.id == key_id), None)
    if key is None:
        raise DecryptionError(f"secret was encrypted with key {key_id}, which is not in {ENV_VAR}")
    try:
        blob = base64.urlsafe_b64decode(token.split(":", 2)[2].encode("ascii"))
        plaintext = key.aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad.encode())
    except (InvalidTag, ValueError, binascii.Error):
        raise DecryptionError(
            f"secret for {aad} failed authentication (tampered or stored elsewhere)"
        ) from None
    return plaintext.decode("utf-8")
