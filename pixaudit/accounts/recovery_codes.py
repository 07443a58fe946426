"""One-time MFA recovery codes: generated here, shown once, stored only as salted hashes.

A code is 16 random base32 characters (80 bits), shown as four groups of four
(``abcd-efgh-ijkl-mnop``); spaces, dashes and case are ignored when it is typed. Each code
is stored as ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` (Django's PBKDF2 encoding, a fresh
salt per code), so neither a database reader nor an admin can recover a code. 80 random
bits already put brute force out of reach; the iterations protect the 40-bit codes of older
installations, hashed in place by migration ``accounts.0004``.
"""

from __future__ import annotations

import re
import secrets
from base64 import b32encode

from django.contrib.auth.hashers import PBKDF2PasswordHasher

__all__ = [
    "recovery_code_format",
    "recovery_code_generate",
    "recovery_code_hash",
    "recovery_code_matches",
    "recovery_code_normalise",
]

#: PBKDF2 rounds per code: about 25 ms here; verifying tries each of a user's codes.
ITERATIONS = 50_000
_hasher = PBKDF2PasswordHasher()


def recovery_code_normalise(code: str) -> str:
    """What the user typed, without spaces and dashes, lower-cased."""
    return re.sub(r"[\s-]", "", code or "").lower()


def recovery_code_generate() -> str:
    """A new code in its display form (``abcd-efgh-ijkl-mnop``)."""
    raw = b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return recovery_code_format(raw)


def recovery_code_format(code: str) -> str:
    raw = recovery_code_normalise(code)
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def recovery_code_hash(code: str) -> str:
    """The stored form of ``code`` (salted PBKDF2-SHA256)."""
    return _hasher.encode(recovery_code_normalise(code), _hasher.salt(), ITERATIONS)


def recovery_code_matches(code: str, encoded: str) -> bool:
    """True when ``code`` (as typed) is the one ``encoded`` was made from (constant time)."""
    candidate = recovery_code_normalise(code)
    if not candidate or not encoded.startswith(f"{_hasher.algorithm}$"):
        return False
    return _hasher.verify(candidate, encoded)
