"""Reads of stored artifacts without loading them whole: the rows of an evidence artifact,
streamed and reduced to the columns a caller needs.

An evidence artifact is the canonical JSON document of one collection (``{"rows": [...],
...}``). :func:`artifact_rows` reads it chunk by chunk from storage and decodes one row at a
time, so a platform-side join over a large artifact (e.g. ``change_tickets`` over the pull
requests of a year) keeps only what it asked for; the SHA-256 is checked once the whole
artifact has been read.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.storage import artifact_chunks

__all__ = ["ArtifactUnreadable", "artifact_rows"]


class ArtifactUnreadable(Exception):
    """An artifact is not the canonical document it should be, or not its SHA-256."""


_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


class _Reader:
    """Text of an artifact read chunk by chunk, hashing the bytes as they come."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.digest = hashlib.sha256()
        self.text = ""
        self.pos = 0
        self.done = False

    def more(self) -> bool:
        if self.done:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self.text += self._utf8.decode(b"", final=True)
            self.done = True
            return False
        self.digest.update(chunk)
        if self.pos > 65536:  # drop what was parsed already
            self.text, self.pos = self.text[self.pos :], 0
        self.text += self._utf8.decode(chunk)
        return True

    def peek(self) -> str:
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                raise ArtifactUnreadable("the artifact ends early")

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise ArtifactUnreadable(f"expected {char!r} at character {self.pos}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, reading more until it is complete (and not cut short: a
        value must be followed by something, unless the text ended)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                if self.more():
                    continue
                raise ArtifactUnreadable(f"invalid JSON at character {self.pos}") from None
            if end < len(self.text) or self.done:
                self.pos = end
                return value
            self.more()

    def members(self, opening: str, closing: str) -> Iterator[None]:
        """Read an object or array: expect ``opening``, then stop at each member (after the
        comma that separates it from the one before) for the caller to read it, and read
        ``closing`` once no member is left."""
        self.expect(opening)
        first = True
        while self.peek() != closing:
            if not first:
                self.expect(",")
            first = False
            yield
        self.pos += 1

    def drain(self) -> None:
        while self.more():
            pass


def artifact_rows(item: EvidenceItem, columns: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The ``rows`` of ``item``'s artifact, each reduced to ``columns``, one at a time.

    The artifact is read chunk by chunk and each row is decoded alone, so a 10,000-row
    artifact never sits in memory whole; only the named columns of each row are kept. Its
    SHA-256 is checked once the whole artifact has been read: a mismatch raises
    :class:`ArtifactUnreadable` (after the rows were yielded, so a caller must consume the
    iterator fully before trusting what it built).
    """
    wanted = tuple(columns)
    reader = _Reader(artifact_chunks(item.artifact_path))
    for _ in reader.members("{", "}"):
        name = reader.value()
        reader.expect(":")
        if name != "rows":
            reader.value()
            continue
        for _ in reader.members("[", "]"):
            row = reader.value()
            yield {c: row.get(c) for c in wanted}
    reader.drain()
    if reader.digest.hexdigest() != item.sha256:
        raise ArtifactUnreadable(
            f"the artifact of evidence seq {item.seq} does not match its SHA-256 "
            f"{item.sha256}: run manage.py verify_evidence"
        )
