"""Exceptions from the findings history: one replay engine for incremental upkeep and rebuilds.

The history is replayed in chain order (``EvidenceItem.seq``), exactly as current state is
written at ingest (``pixaudit.evidence.services.ingest``): per item, the worst status of each
(assertion, resource) pair counts (error, then fail, then warn, then pass; first on ties);
rows are keyed by connection (a connection never closes another's exception); a collection
is a full picture of its source (connection and collector), so a resource it no longer
reports is gone, while appended evidence (manual uploads, access reviews) only adds.

For one (assertion, resource, connection):

- a FAIL with no open exception opens one (``opened_at`` = the item's ``collected_at``, the
  item is its start evidence); a FAIL while open extends it (last evidence, worst severity,
  latest message);
- an ERROR changes nothing: an unknown is never a verdict, so it neither opens nor closes;
- a PASS or WARN closes it (``closed_at`` = that item's ``collected_at``, the item is its
  end evidence); so does a collection of the same source that no longer reports the pair.

Run-failure rows of current state are not history and take no part. ``Replay`` holds only
the open exceptions; :func:`replay_items` streams items and their findings in batches.
"""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pixaudit.evidence.models import EvidenceItem, Finding, RunTrigger
from pixaudit.exceptions.models import EndReason, ExceptionRecord

__all__ = ["Replay", "Stretch", "items_after", "stretch_of"]

_STATUS_RANK = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
_ITEMS_PER_BATCH = 100

#: The fields of ExceptionRecord a replay derives (everything but owner and note).
DERIVED_FIELDS = (
    "collector_key", "connection_id", "severity", "message", "opened_at", "closed_at",
    "start_evidence_id", "last_evidence_id", "end_evidence_id", "end_reason", "start_seq",
    "end_seq",
)  # fmt: skip

Key = tuple[int | None, str, str]  # (connection id, assertion id, resource)


@dataclass
class Stretch:
    """An exception as the replay sees it (``pk`` is set for rows already stored)."""

    assertion_id: str
    resource: str
    connection_id: int | None
    collector_key: str
    severity: str
    message: str
    opened_at: datetime
    start_evidence_id: int
    start_seq: int
    last_evidence_id: int
    closed_at: datetime | None = None
    end_evidence_id: int | None = None
    end_seq: int | None = None
    end_reason: str = ""
    pk: int | None = None
    changed: bool = False
    #: The derived values as stored (rows read from the database), to write only changes.
    stored: dict[str, Any] | None = None

    @property
    def key(self) -> Key:
        return (self.connection_id, self.assertion_id, self.resource)

    @property
    def natural_key(self) -> tuple[int, str, str]:
        return (self.start_evidence_id, self.assertion_id, self.resource)

    def derived(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DERIVED_FIELDS}


def stretch_of(row: ExceptionRecord) -> Stretch:
    """The replay's view of a stored row."""
    stretch = Stretch(
        assertion_id=row.assertion_id, resource=row.resource, connection_id=row.connection_id,
        collector_key=row.collector_key, severity=row.severity, message=row.message,
        opened_at=row.opened_at, start_evidence_id=row.start_evidence_id,
        start_seq=row.start_seq, last_evidence_id=row.last_evidence_id,
        closed_at=row.closed_at, end_evidence_id=row.end_evidence_id, end_seq=row.end_seq,
        end_reason=row.end_reason, pk=row.pk,
    )  # fmt: skip
    stretch.stored = stretch.derived()
    return stretch


class Replay:
    """Applies items in chain order to a set of open exceptions."""

    def __init__(self, open_stretches: list[Stretch] | None = None) -> None:
        self.open: dict[Key, Stretch] = {}
        self.by_source: dict[tuple[int | None, str], set[Key]] = defaultdict(set)
        #: Every stretch opened, extended or closed by this replay (in order of first touch).
        self.touched: dict[int, Stretch] = {}
        for stretch in open_stretches or ():
            self._track(stretch)

    def _track(self, stretch: Stretch) -> None:
        self.open[stretch.key] = stretch
        self.by_source[(stretch.connection_id, stretch.collector_key)].add(stretch.key)

    def _touch(self, stretch: Stretch) -> None:
        stretch.changed = True
        self.touched.setdefault(id(stretch), stretch)

    def _close(self, stretch: Stretch, item: dict[str, Any], reason: str) -> None:
        stretch.closed_at = item["collected_at"]
        stretch.end_evidence_id = item["id"]
        stretch.end_seq = item["seq"]
        stretch.end_reason = reason
        del self.open[stretch.key]
        self.by_source[(stretch.connection_id, stretch.collector_key)].discard(stretch.key)
        self._touch(stretch)

    def apply(
        self, item: dict[str, Any], findings: Iterable[tuple[str, str, str, str, str]]
    ) -> None:
        """One item (``id, seq, collected_at, collector_key, connection_id, appended``) and its
        findings as ``(assertion_id, resource, status, severity, message)`` in id order
        (iterated once: they may be streamed from the database)."""
        # Only what can change the register is kept: FAIL and ERROR (an ERROR is the worst
        # status and so blocks a FAIL of the same pair), and every finding of a pair with an
        # open exception (it closes, extends or keeps it). A PASS or WARN of any other pair
        # changes nothing, and a large item is mostly those.
        chosen: dict[tuple[str, str], tuple[str, str, str, str, str]] = {}
        open_keys, conn = self.open, item["connection_id"]
        for finding in findings:
            pair = (finding[0], finding[1])
            if finding[2] not in ("fail", "error") and (conn, *pair) not in open_keys:
                continue
            current = chosen.get(pair)
            if current is None or _STATUS_RANK.get(finding[2], 9) < _STATUS_RANK.get(current[2], 9):
                chosen[pair] = finding
        conn, collector_key = item["connection_id"], item["collector_key"]
        for (assertion_id, resource), (_, _, status, severity, message) in chosen.items():
            key = (conn, assertion_id, resource)
            stretch = self.open.get(key)
            if status == "fail":
                if stretch is None:
                    stretch = Stretch(
                        assertion_id=assertion_id, resource=resource, connection_id=conn,
                        collector_key=collector_key, severity=severity, message=message,
                        opened_at=item["collected_at"], start_evidence_id=item["id"],
                        start_seq=item["seq"], last_evidence_id=item["id"],
                    )  # fmt: skip
                    self._track(stretch)
                else:
                    if stretch.collector_key != collector_key:
                        self.by_source[(conn, stretch.collector_key)].discard(key)
                        stretch.collector_key = collector_key
                        self.by_source[(conn, collector_key)].add(key)
                    stretch.last_evidence_id = item["id"]
                    stretch.message = message
                    if _SEVERITY_RANK.get(severity, 9) < _SEVERITY_RANK.get(stretch.severity, 9):
                        stretch.severity = severity
                self._touch(stretch)
            elif status in ("pass", "warn") and stretch is not None:
                reason = EndReason.PASSED if status == "pass" else EndReason.WARNING
                self._close(stretch, item, reason)
        if item["appended"]:
            return
        for key in list(self.by_source.get((conn, collector_key), ())):
            if (key[1], key[2]) not in chosen:
                self._close(self.open[key], item, EndReason.GONE)


def items_after(
    seq: int,
) -> Iterator[tuple[dict[str, Any], Iterator[tuple[str, str, str, str, str]]]]:
    """Every item after chain position ``seq``, in order, with its findings (batched reads;
    read an item's findings before asking for the next item)."""
    rows = (
        EvidenceItem.objects.filter(seq__gt=seq)
        .order_by("seq")
        .values(
            "id",
            "seq",
            "collected_at",
            "collector_key",
            "connection_id",
            "run__trigger",
            "run__connection_id",
        )  # fmt: skip
        .iterator(chunk_size=2000)
    )
    batch: list[dict[str, Any]] = []
    for row in rows:
        trigger, run_connection = row.pop("run__trigger"), row.pop("run__connection_id")
        row["appended"] = trigger == RunTrigger.MANUAL and run_connection is None
        batch.append(row)
        if len(batch) >= _ITEMS_PER_BATCH:
            yield from _with_findings(batch)
            batch = []
    if batch:
        yield from _with_findings(batch)


def _with_findings(batch: list[dict[str, Any]]):
    # One query for the batch's findings, ordered by item; each item's findings are handed
    # on as a stream (the consumer reads them before asking for the next item), so a large
    # item's findings are never all in memory.
    rows = (
        Finding.objects.filter(evidence_id__in=[row["id"] for row in batch])
        .order_by("evidence_id", "id")
        .values_list("evidence_id", "assertion_id", "resource", "status", "severity", "message")
        .iterator(chunk_size=1000)
    )
    groups = itertools.groupby(rows, key=operator.itemgetter(0))
    group = next(groups, None)
    for row in batch:
        if group is not None and group[0] == row["id"]:
            yield row, (finding[1:] for finding in group[1])
            group = next(groups, None)
        else:
            yield row, iter(())
