"""Content-addressed artifact storage through Django's default storage, written atomically.

An artifact's name is derived from its SHA-256 (``evidence/sha256/ab/cd/<sha256>.json``), so
identical collections share one file and a name can never point at different bytes. The
store keeps that promise even when a write fails or a stored object went bad:

- **Nothing partial at a content address.** On a local disk (``FileSystemStorage``) bytes
  go to a temporary file under ``<location>/.partial/`` (same file system), are hashed as
  they are written, fsynced, and only then renamed onto the final name (``os.replace``,
  atomic). A failure removes the temporary file. On S3 (django-storages) an object appears
  whole or not at all; the uploaded size is checked after the PUT.
- **Never trust an existing object blindly.** A name that already exists is reused only
  when its size and SHA-256 are the expected ones; otherwise it is replaced (atomically on a
  local disk, by overwriting on S3), and the repair is logged.
- **Clear errors.** A full, read-only or unwritable store raises :class:`ArtifactStoreError`
  whose message says what happened and that nothing was stored.

A ``.partial`` file only survives a process killed mid-write (kill -9, power loss); it is
never at a content address, so never trusted, and :func:`artifact_partials_sweep` (run by
the periodic evidence job) removes old ones. An artifact written for a run whose database
transaction then fails is an orphan: harmless (nothing references it) and reused (after
verification) if the same bytes come again.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import io
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Literal

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, default_storage

__all__ = [
    "PARTIAL_DIR",
    "ArtifactStoreError",
    "ArtifactTooLarge",
    "artifact_chunks",
    "artifact_exists",
    "artifact_max_bytes",
    "artifact_partials_sweep",
    "artifact_path",
    "artifact_read",
    "artifact_sha256",
    "artifact_size_check",
    "artifact_store",
    "blob_store",
    "data_sha256",
    "data_size",
    "file_save_atomic",
    "format_bytes",
]

logger = logging.getLogger("pixaudit.evidence.storage")

_CHUNK = 1024 * 1024
#: Directory (under a local storage's location) for files being written.
PARTIAL_DIR = ".partial"

StoreOutcome = Literal["created", "reused", "repaired"]
#: What can be stored: bytes, a binary file object, or a list of byte parts (a large
#: artifact kept as parts so it is never joined into one more copy in memory).
Source = bytes | IO[bytes] | list[bytes]

_ERRNO_REASONS = {
    errno.ENOSPC: "no space left on the artifact storage",
    errno.EDQUOT: "the disk quota of the artifact storage is exceeded",
    errno.EROFS: "the artifact storage is read-only",
    errno.EACCES: "permission denied on the artifact storage",
    errno.EPERM: "permission denied on the artifact storage",
    errno.EFBIG: "the file is larger than the artifact storage allows",
}


class ArtifactStoreError(Exception):
    """Bytes could not be stored; the message names the file, the reason, and says that
    nothing was stored."""


class _NameTaken(ArtifactStoreError):
    """``file_save_atomic`` lost a race for a free name (it picks another)."""


class ArtifactTooLarge(ValueError):
    """An artifact is larger than ``PIXAUDIT_ARTIFACT_MAX_BYTES``."""


def format_bytes(size: int) -> str:
    """``268,435,456 bytes (256.0 MiB)``: exact, and readable."""
    if size < 1024:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{size:,} bytes ({value:.1f} {unit})"


def artifact_max_bytes() -> int:
    """The largest artifact the store accepts (``PIXAUDIT_ARTIFACT_MAX_BYTES``)."""
    return int(settings.PIXAUDIT_ARTIFACT_MAX_BYTES)


def artifact_size_check(size: int, *, what: str = "the evidence artifact") -> None:
    """Raise :class:`ArtifactTooLarge` when ``size`` is above the limit."""
    limit = artifact_max_bytes()
    if size > limit:
        raise ArtifactTooLarge(
            f"{what} is {format_bytes(size)}, above the limit of {format_bytes(limit)} "
            "(PIXAUDIT_ARTIFACT_MAX_BYTES); nothing was stored. Narrow what is collected "
            "(e.g. filters or regions) or raise the limit."
        )


def artifact_path(sha256: str) -> str:
    """The storage name of the artifact with this digest."""
    return f"evidence/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}.json"


def artifact_store(data: Source, sha256: str, *, size: int | None = None) -> str:
    """Store ``data`` (bytes, parts, or a file of ``size`` bytes) under its content address;
    return the name."""
    name = artifact_path(sha256)
    blob_store(name, data, sha256=sha256, size=data_size(data) if size is None else size)
    return name


def data_size(data: bytes | list[bytes]) -> int:
    """The length of bytes, or of the concatenation of parts."""
    return sum(map(len, data)) if isinstance(data, list) else len(data)


def data_sha256(data: bytes | list[bytes]) -> str:
    """The SHA-256 of bytes, or of the concatenation of parts (without concatenating)."""
    digest = hashlib.sha256()
    for part in data if isinstance(data, list) else (data,):
        digest.update(part)
    return digest.hexdigest()


def blob_store(name: str, source: Source, *, sha256: str, size: int) -> StoreOutcome:
    """Make ``name`` hold exactly ``source`` (whose SHA-256 and size are given).

    Returns ``"created"`` (written now), ``"reused"`` (an identical object was already
    there) or ``"repaired"`` (an object with other bytes was there and was replaced). Raises
    :class:`ArtifactStoreError` when the bytes cannot be stored, or when ``source`` does not
    hash to ``sha256``; nothing is left at ``name`` by a failed call that created it.
    """
    storage = default_storage
    existing = _existing_state(storage, name, sha256, size)
    if existing == "ok":
        return "reused"
    if existing == "corrupt":
        logger.warning("%s holds other bytes than its name promises; replacing them", name)
    if _is_local(storage):
        _local_write(storage, name, source, sha256=sha256, size=size, overwrite=True)
    else:
        _remote_write(storage, name, source, size=size, overwrite=existing == "corrupt")
    if existing == "corrupt":
        _audit_repair(name, sha256)
        return "repaired"
    return "created"


def _audit_repair(name: str, sha256: str) -> None:
    # A change to stored evidence bytes (back to what the content address promises).
    from pixaudit.auditlog.services import audit_log_record

    audit_log_record(action="evidence.artifact_repair", obj=name, sha256=sha256)


def file_save_atomic(name: str, data: bytes) -> str:
    """Store ``data`` under ``name`` or, if taken, a free variant of it (like
    ``Storage.save``), never leaving a partial file; returns the stored name."""
    storage = default_storage
    sha256 = hashlib.sha256(data).hexdigest()
    if not _is_local(storage):
        return _remote_save(storage, name, data)
    for _attempt in range(5):
        candidate = storage.get_available_name(name)
        try:
            _local_write(storage, candidate, data, sha256=sha256, size=len(data), overwrite=False)
        except _NameTaken:
            continue  # another writer took the name between the check and the link
        return candidate
    raise ArtifactStoreError(f"could not store {name}: no free name; nothing was stored")


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


def artifact_partials_sweep(*, older_than_seconds: int = 24 * 3600) -> int:
    """Remove temporary files left by processes killed mid-write; returns how many.

    Only files older than ``older_than_seconds`` go (a younger one may still be written).
    Nothing to do for object stores: an interrupted S3 upload leaves no object (incomplete
    multipart parts are for the bucket's ``AbortIncompleteMultipartUpload`` lifecycle rule).
    """
    storage = default_storage
    if not _is_local(storage):
        return 0
    directory = os.path.join(storage.location, PARTIAL_DIR)
    cutoff = time.time() - older_than_seconds
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        logger.warning("removed %d partial artifact file(s) left by interrupted writes", removed)
    return removed


# --- internals ------------------------------------------------------------------------------


def _is_local(storage: Storage) -> bool:
    return isinstance(storage, FileSystemStorage)  # default_storage proxies __class__


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[exc.errno]
    return f"{type(exc).__name__}: {exc}"


def _store_error(name: str, exc: BaseException) -> ArtifactStoreError:
    return ArtifactStoreError(
        f"could not store {name}: {_reason(exc)}; nothing was stored ({type(exc).__name__})"
    )


def _existing_state(
    storage: Storage, name: str, sha256: str, size: int
) -> Literal["absent", "ok", "corrupt"]:
    try:
        if not storage.exists(name):
            return "absent"
        if storage.size(name) != size:
            return "corrupt"
        digest = hashlib.sha256()
        with storage.open(name, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:  # removed between exists() and open()
        return "absent"
    except OSError as exc:
        raise _store_error(name, exc) from exc
    return "ok" if digest.hexdigest() == sha256 else "corrupt"


def _chunks_of(source: Source) -> Iterator[bytes]:
    if isinstance(source, list):
        yield from source
        return
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), _CHUNK):
            yield view[start : start + _CHUNK]
        return
    if hasattr(source, "seek"):
        source.seek(0)
    while chunk := source.read(_CHUNK):
        yield chunk


def _file_mode(storage: FileSystemStorage) -> int:
    if storage.file_permissions_mode is not None:
        return storage.file_permissions_mode
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _local_write(
    storage: FileSystemStorage,
    name: str,
    source: Source,
    *,
    sha256: str,
    size: int,
    overwrite: bool,
) -> None:
    final = storage.path(name)
    partial_dir = os.path.join(storage.location, PARTIAL_DIR)
    tmp: str | None = None
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.makedirs(partial_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=partial_dir, prefix=os.path.basename(final)[:100] + ".")
        digest, written = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as fh:
            for chunk in _chunks_of(source):
                fh.write(chunk)
                digest.update(chunk)
                written += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if written != size or digest.hexdigest() != sha256:
            raise ArtifactStoreError(
                f"could not store {name}: the bytes changed while they were written "
                f"({written} bytes, SHA-256 {digest.hexdigest()}; expected {size} bytes, "
                f"{sha256}); nothing was stored"
            )
        os.chmod(tmp, _file_mode(storage))
        if overwrite:
            os.replace(tmp, final)  # atomic; replaces a corrupt file at the same name
        else:
            _link_into_place(tmp, final)
        tmp = None
        _fsync_directory(os.path.dirname(final))
    except ArtifactStoreError:
        raise
    except FileExistsError as exc:
        raise _NameTaken(f"could not store {name}: the name is taken; nothing was stored") from exc
    except OSError as exc:
        raise _store_error(name, exc) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                logger.warning("could not remove the partial file %s", tmp)


def _link_into_place(tmp: str, final: str) -> None:
    """Atomically move ``tmp`` to ``final``, refusing an existing ``final``."""
    try:
        os.link(tmp, final)  # raises FileExistsError rather than replacing
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: check, then rename (a tiny race, never partial).
        if os.path.exists(final):
            raise FileExistsError(errno.EEXIST, "exists", final) from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)


def _fsync_directory(path: str) -> None:
    # Makes the rename durable across a power loss; not every platform can open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _content(source: Source):
    if isinstance(source, list):
        return File(_PartsReader(source))
    if isinstance(source, bytes | bytearray | memoryview):
        return ContentFile(bytes(source))
    source.seek(0)
    return source if hasattr(source, "chunks") else File(source)


class _PartsReader(io.RawIOBase):
    """A seekable, read-only file over a list of byte parts (no concatenated copy)."""

    def __init__(self, parts: list[bytes]):
        self._parts = parts
        self._starts: list[int] = []
        total = 0
        for part in parts:
            self._starts.append(total)
            total += len(part)
        self._size = total
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        index = bisect.bisect_right(self._starts, self._pos) - 1
        while filled < len(view) and self._pos < self._size and index < len(self._parts):
            part = self._parts[index]
            start = self._pos - self._starts[index]
            take = min(len(part) - start, len(view) - filled)
            view[filled : filled + take] = part[start : start + take]
            filled += take
            self._pos += take
            index += 1
        return filled


def _remote_write(
    storage: Storage, name: str, source: Source, *, size: int, overwrite: bool
) -> None:
    """Object stores: a PUT is atomic (the object appears whole or not at all)."""
    try:
        if _overwrites_in_place(storage):
            # S3: one PUT to the exact name, replacing a corrupt object in one step (and
            # harmless when a concurrent writer stores the same bytes at the same time).
            storage._save(name, _content(source))
        else:
            if overwrite:
                storage.delete(name)
            saved = storage.save(name, _content(source))
            if saved != name:
                # Someone stored this name between our check and our save: keep theirs if
                # it holds the right bytes, else fail (the caller may simply retry).
                storage.delete(saved)
                raise ArtifactStoreError(
                    f"could not store {name}: another writer stored it at the same time; "
                    "nothing was stored, try again"
                )
        stored = storage.size(name)
    except ArtifactStoreError:
        raise
    except Exception as exc:  # botocore raises many types; all mean "not stored"
        raise _store_error(name, exc) from exc
    if stored != size:
        raise ArtifactStoreError(
            f"could not store {name}: the storage holds {stored} bytes, expected {size}"
        )


def _remote_save(storage: Storage, name: str, data: bytes) -> str:
    try:
        return storage.save(name, ContentFile(data))
    except Exception as exc:
        raise _store_error(name, exc) from exc


def _overwrites_in_place(storage: Storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a dependency
        return False
    return isinstance(storage, S3Storage)
