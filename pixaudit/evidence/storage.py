"""Content-addressed artifact storage through Django's default storage.

An artifact's name is derived from its SHA-256 (``evidence/sha256/ab/cd/<sha256>.json``), so
identical collections share one file and a name can never point at different bytes. Files
are written only when absent. An artifact written for a run whose database transaction then
fails is an orphan: harmless (nothing references it) and reused if the same bytes come again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

__all__ = ["artifact_exists", "artifact_path", "artifact_read", "artifact_sha256", "artifact_store"]

_CHUNK = 1024 * 1024


def artifact_path(sha256: str) -> str:
    """The storage name of the artifact with this digest."""
    return f"evidence/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}.json"


def artifact_store(data: bytes, sha256: str) -> str:
    """Store ``data`` under its content address (unless already there); return the name."""
    name = artifact_path(sha256)
    if default_storage.exists(name):
        return name
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        # Another worker stored the same bytes between exists() and save(); the storage then
        # picked an alternative name. Keep the canonical one, drop the duplicate.
        default_storage.delete(saved)
    return name


def artifact_exists(name: str) -> bool:
    return default_storage.exists(name)


def artifact_chunks(name: str) -> Iterator[bytes]:
    """Stream an artifact's bytes (constant memory)."""
    with default_storage.open(name, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def artifact_sha256(name: str) -> str:
    """Recompute the SHA-256 of a stored artifact by streaming it."""
    digest = hashlib.sha256()
    for chunk in artifact_chunks(name):
        digest.update(chunk)
    return digest.hexdigest()


def artifact_read(name: str) -> bytes:
    """The whole artifact (for views and packs; verification streams instead)."""
    return b"".join(artifact_chunks(name))
