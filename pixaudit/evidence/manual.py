"""Validation of manually uploaded evidence files: size, type, name, archives.

Nothing here trusts the client: the size is counted while the bytes stream in (the upload
stops at the limit, it is never read whole first), the type is sniffed from the bytes (the
name's extension must agree with it), the name is reduced to a safe basename, and ZIP-based
Office documents (DOCX, XLSX) are opened only as far as their central directory says, to
check that they are genuine OOXML packages and not bombs or archives in disguise.

Accepted: PDF, PNG, JPEG, plain text / CSV (UTF-8, no NUL), DOCX, XLSX. Everything else is
refused with a message that says why.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.conf import settings

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FileCheck",
    "UploadRejected",
    "inspect_upload",
    "max_upload_bytes",
    "sanitise_filename",
    "spool_limited",
]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
#: Limits for ZIP containers (DOCX/XLSX): total uncompressed size, per-member ratio, members.
ZIP_MAX_UNCOMPRESSED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_MAX_MEMBERS = 5000
_CHUNK = 64 * 1024

#: sniffed type -> (content type, canonical extension, extensions a name may carry).
TYPES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", "pdf", ("pdf",)),
    "png": ("image/png", "png", ("png",)),
    "jpeg": ("image/jpeg", "jpg", ("jpg", "jpeg")),
    "text": ("text/plain", "txt", ("txt", "text", "md", "log")),
    "csv": ("text/csv", "csv", ("csv",)),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        ("docx",),
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        ("xlsx",),
    ),
}
_ARCHIVE_MAGIC = (
    b"PK\x03\x04", b"PK\x05\x06", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
)  # fmt: skip
_ARCHIVE_NAMES = re.compile(r"\.(zip|jar|war|rar|7z|gz|tgz|bz2|xz|tar|cab|iso|docm|xlsm)$", re.I)
_EXECUTABLE_MAGIC = {b"MZ": "a Windows executable", b"\x7fELF": "a Linux executable"}


class UploadRejected(ValueError):
    """The upload is refused; the message is meant for the person who uploaded it."""


@dataclass(frozen=True)
class FileCheck:
    """What validation learned about an accepted file."""

    kind: str
    content_type: str
    extension: str
    size: int
    sha256: str
    file_name: str


def max_upload_bytes() -> int:
    return int(getattr(settings, "PIXAUDIT_MANUAL_MAX_BYTES", DEFAULT_MAX_BYTES))


def _human(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def spool_limited(
    chunks: Iterable[bytes], *, limit: int | None = None
) -> tuple[IO[bytes], int, str]:
    """Copy ``chunks`` to a temporary file, stopping as soon as ``limit`` is passed.

    Returns ``(file positioned at 0, size, sha256)``. Raises :class:`UploadRejected` the
    moment the running total exceeds the limit (the rest is never read).
    """
    limit = max_upload_bytes() if limit is None else limit
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise UploadRejected(
                    f"The file is larger than the {_human(limit)} limit for manual evidence."
                )
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, size, digest.hexdigest()


def sanitise_filename(name: str) -> str:
    """A safe basename: no directories, no control characters, ASCII word characters."""
    name = unicodedata.normalize("NFKD", str(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = name.encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = re.sub(r"_{2,}", "_", stem).strip("._-")[:120].strip("._-") or "upload"
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:10].lower()
    return f"{stem}.{ext}" if ext else stem


def _is_text(fh: IO[bytes]) -> bool:
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    fh.seek(0)
    try:
        while chunk := fh.read(_CHUNK):
            if b"\x00" in chunk:
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check_zip_members(archive: zipfile.ZipFile, size: int) -> str:
    """Return "docx"/"xlsx" for a sane OOXML package, else raise UploadRejected."""
    infos = archive.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise UploadRejected("The document has too many parts to be a normal Office file.")
    total = 0
    names = set()
    for info in infos:
        name = info.filename
        names.add(name)
        if name.startswith("/") or ".." in name.split("/") or "\\" in name:
            raise UploadRejected("The document contains a part with an unsafe path.")
        if info.flag_bits & 0x1:
            raise UploadRejected("Encrypted documents cannot be accepted; remove the password.")
        if _ARCHIVE_NAMES.search(name):
            raise UploadRejected("The document contains an embedded archive; refused.")
        total += info.file_size
        if total > ZIP_MAX_UNCOMPRESSED:
            raise UploadRejected("The document expands to more than allowed (possible ZIP bomb).")
        if info.file_size > 1024 * 1024 and info.file_size > ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise UploadRejected("The document is compressed suspiciously well (ZIP bomb?).")
    if total > 1024 * 1024 and total > ZIP_MAX_RATIO * max(size, 1):
        raise UploadRejected("The document expands to more than allowed (possible ZIP bomb).")
    if "[Content_Types].xml" not in names:
        raise UploadRejected("The file is a ZIP archive, not a Word or Excel document.")
    if "word/document.xml" in names:
        kind = "docx"
    elif "xl/workbook.xml" in names:
        kind = "xlsx"
    else:
        raise UploadRejected("The file is a ZIP archive, not a Word or Excel document.")
    for info in infos:  # nested archives hidden under innocent names: check their magic
        if info.is_dir() or info.file_size < 4:
            continue
        with archive.open(info) as member:
            head = member.read(8)
        if head.startswith(_ARCHIVE_MAGIC):
            raise UploadRejected("The document contains an embedded archive; refused.")
    return kind


def _sniff(fh: IO[bytes], size: int) -> str:
    fh.seek(0)
    head = fh.read(16)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    for magic, what in _EXECUTABLE_MAGIC.items():
        if head.startswith(magic):
            raise UploadRejected(f"The file is {what}, not a document; refused.")
    if head.startswith(b"PK\x03\x04"):
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as archive:
                return _check_zip_members(archive, size)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise UploadRejected("The file looks like a ZIP archive but is damaged.") from None
        except NotImplementedError:  # a compression method zipfile cannot read
            raise UploadRejected(
                "The document uses a compression method that cannot be read; save it again "
                "from Word or Excel."
            ) from None
    if head.startswith(_ARCHIVE_MAGIC):
        raise UploadRejected("Archives are not accepted; upload the documents themselves.")
    if head and _is_text(fh):
        return "text"
    if not head:
        raise UploadRejected("The file is empty.")
    raise UploadRejected(
        "Unsupported file type. Upload a PDF, PNG, JPEG, plain text/CSV, DOCX or XLSX file."
    )


def inspect_upload(fh: IO[bytes], *, name: str, size: int, sha256: str) -> FileCheck:
    """Sniff and check a spooled upload; the name's extension must match its content."""
    kind = _sniff(fh, size)
    safe = sanitise_filename(name)
    ext = safe.rpartition(".")[2].lower() if "." in safe else ""
    if kind == "text" and ext == "csv":
        kind = "csv"
    content_type, canonical_ext, allowed = TYPES[kind]
    if ext and ext not in allowed:
        raise UploadRejected(
            f"The file is named .{ext} but its content is {kind.upper()}; "
            "rename it or upload the right file."
        )
    if not ext:
        safe = f"{safe}.{canonical_ext}"
    fh.seek(0)
    return FileCheck(kind, content_type, canonical_ext, size, sha256, safe)
