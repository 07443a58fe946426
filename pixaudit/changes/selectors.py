"""Reads for the change-ticket join: the latest evidence of a collector per connection, and
the rows of an artifact streamed column by column (never the whole document in memory).
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.storage import artifact_chunks

__all__ = ["ArtifactUnreadable", "Source", "artifact_rows", "latest_sources"]


class ArtifactUnreadable(Exception):
    """An artifact is not the canonical document it should be, or not its SHA-256."""


@dataclass(frozen=True)
class Source:
    """One evidence item the join reads: cited in rows and provenance (seq + SHA-256)."""

    item: EvidenceItem
    connection: str

    @property
    def label(self) -> str:
        return f"{self.item.collector_key} seq {self.item.seq}"

    def provenance(self) -> dict[str, Any]:
        return {"collector": self.item.collector_key, "seq": self.item.seq,
                "sha256": self.item.sha256, "connection": self.connection,
                "collected_at": self.item.collected_at.isoformat()}  # fmt: skip


def latest_sources(collector_key: str) -> list[Source]:
    """The latest evidence item of ``collector_key`` of every connection, by connection name.

    Every connection counts, enabled or not: its latest evidence still describes what
    happened in its window (as the leaver test reads HR connections).
    """
    sources = []
    for connection in Connection.objects.filter(collector_key=collector_key).order_by("name"):
        item = (EvidenceItem.objects.filter(connection=connection, collector_key=collector_key)
                .order_by("-seq").first())  # fmt: skip
        if item is not None:
            sources.append(Source(item, connection.name))
    return sources


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
    reader.expect("{")
    first = True
    while reader.peek() != "}":
        if not first:
            reader.expect(",")
        first = False
        name = reader.value()
        reader.expect(":")
        if name != "rows":
            reader.value()
            continue
        reader.expect("[")
        first_row = True
        while reader.peek() != "]":
            if not first_row:
                reader.expect(",")
            first_row = False
            row = reader.value()
            yield {c: row.get(c) for c in wanted}
        reader.expect("]")
    reader.pos += 1
    reader.drain()
    if reader.digest.hexdigest() != item.sha256:
        raise ArtifactUnreadable(
            f"the artifact of evidence seq {item.seq} does not match its SHA-256 "
            f"{item.sha256}: run manage.py verify_evidence"
        )
