"""Reads for the change-ticket join: the latest evidence of a collector per connection.

The rows of those items are read with
:func:`pixaudit.evidence.selectors_artifacts.artifact_rows` (streamed, column by column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixaudit.evidence.models import Connection, EvidenceItem

__all__ = ["Source", "latest_sources"]


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
