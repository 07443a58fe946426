"""Short-lived holding for a manual-evidence file while its form is corrected.

When the upload form comes back with an error (a missing title, an unknown control), the
browser cannot re-send the chosen file. Rather than make the user pick it again, the view
validates the file and keeps it here, and the page says "file kept: name (size)"; the next
submission uses it unless another file is chosen.

What is held is not evidence: nothing is hashed into the chain, no row is written. It lives
in the default storage (so every web process of a deployment sees it) under
``uploads-held/<owner>-<token>-<safe name>``, where ``owner`` is a keyed digest of the session
key (the session key itself is never written anywhere) and ``token`` a random 128-bit value
the form carries. Another session cannot use a token. Held files expire after
:data:`HOLD_SECONDS`; they are removed when the evidence is stored, when another file
replaces them, and by :func:`manual_uploads_held_sweep`, which every hold runs first.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.crypto import salted_hmac

from pixaudit.evidence.manual import inspect_upload, spool_limited

__all__ = [
    "HOLD_SECONDS",
    "HeldUpload",
    "holding_owner",
    "manual_upload_held",
    "manual_upload_held_open",
    "manual_upload_hold",
    "manual_upload_release",
    "manual_uploads_held_sweep",
]

HOLD_SECONDS = 3600
HOLD_PREFIX = "uploads-held"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^(?P<owner>[0-9a-f]{32})-(?P<token>[0-9a-f]{32})-(?P<name>[A-Za-z0-9._-]+)$")


@dataclass(frozen=True)
class HeldUpload:
    """A validated file waiting for its form: what the page shows and the next POST names."""

    token: str
    file_name: str
    size: int
    path: str


def holding_owner(session_key: str) -> str:
    """The holder's id: a keyed digest of the session key (never the key itself)."""
    if not session_key:
        raise ValueError("a held upload needs a session")
    return salted_hmac("pixaudit.manual-upload-holding", session_key).hexdigest()[:32]


def _chunks(upload: Any):
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
        return
    while chunk := upload.read(64 * 1024):
        yield chunk


def manual_upload_hold(*, upload: Any, file_name: str, owner: str) -> HeldUpload:
    """Check ``upload`` like a real upload (size, type, name) and keep it for ``owner``.

    Raises :class:`~pixaudit.evidence.manual.UploadRejected` when the file itself is refused:
    a file that could never be stored is not kept.
    """
    manual_uploads_held_sweep()
    spool, size, sha256 = spool_limited(_chunks(upload))
    with spool:
        check = inspect_upload(spool, name=file_name, size=size, sha256=sha256)
        token = secrets.token_hex(16)
        path = default_storage.save(f"{HOLD_PREFIX}/{owner}-{token}-{check.file_name}", spool)
    return HeldUpload(token=token, file_name=check.file_name, size=size, path=path)


def _held_files() -> list[str]:
    try:
        _, files = default_storage.listdir(HOLD_PREFIX)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return files


def _expired(path: str, now) -> bool:
    try:
        modified = default_storage.get_modified_time(path)
    except (FileNotFoundError, OSError):
        return True
    return modified < now - timedelta(seconds=HOLD_SECONDS)


def manual_upload_held(*, owner: str, token: str) -> HeldUpload | None:
    """The file ``owner`` holds under ``token``; None when unknown, another's or expired."""
    if not _TOKEN.match(token or ""):
        return None
    now = timezone.now()
    for name in _held_files():
        match = _NAME.match(name)
        if not match or match["owner"] != owner or match["token"] != token:
            continue
        path = f"{HOLD_PREFIX}/{name}"
        if _expired(path, now):
            default_storage.delete(path)
            return None
        return HeldUpload(token, match["name"], default_storage.size(path), path)
    return None


def manual_upload_held_open(held: HeldUpload) -> IO[bytes]:
    """The held bytes, to hand to ``manual_evidence_upload`` (which checks them again)."""
    return File(default_storage.open(held.path, "rb"), name=held.file_name)


def manual_upload_release(*, held: HeldUpload | None) -> None:
    """Forget a held file (stored as evidence, replaced, or abandoned)."""
    if held is not None:
        default_storage.delete(held.path)


def manual_uploads_held_sweep() -> int:
    """Remove every held file older than :data:`HOLD_SECONDS`; returns how many."""
    now = timezone.now()
    removed = 0
    for name in _held_files():
        path = f"{HOLD_PREFIX}/{name}"
        if _expired(path, now):
            default_storage.delete(path)
            removed += 1
    return removed
