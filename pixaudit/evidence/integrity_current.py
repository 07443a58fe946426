"""Verify the current-state table against history: rebuild it from findings and compare.

``LatestResult`` is derived data, maintained by each ingest in the same transaction as the
append. Its rows decide what the dashboard, posture and commitments say *now*, yet the hash
chain does not cover them. This check replays the whole history and names every row of the
table that differs from what the history implies:

- *Result rows* are rebuilt by replaying the chained findings in ``seq`` order exactly as
  the ingest applies them: per item, one result per (assertion, resource) — the worst status
  when a run reported a pair twice, the first finding on ties — upserted under the item's
  connection (``first_seen_at`` kept, ``last_changed_at`` moved when the status changes);
  then a *collection* removes its source's rows (same collector and connection) that it no
  longer reports. Appended evidence (manual uploads, access reviews: its run is triggered
  ``manual`` without a connection, see ``services/append.py``) adds results and removes
  none.
- *Run-failure rows* are rebuilt from the runs table with the same functions that write them
  (``selectors_current``): one ERROR row per assertion of a connection whose newest final
  failure is newer than its newest stored evidence.

What it proves: every current status, severity, message, source and time can be derived from
the chained findings (for result rows) or from the recorded runs (run-failure rows); a row
changed, added or removed by hand is named. What it cannot prove: anything about the
findings themselves (the chain check does that), nor about the runs table, which is not
chained: a forged failed run would be matched by a forged run-failure row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from pixaudit.evidence.models import (
    Connection,
    EvidenceItem,
    Finding,
    LatestResult,
    RunTrigger,
)
from pixaudit.evidence.selectors_current import (
    connections_failed,
    current_assertions,
    run_failure_rows,
)

__all__ = [
    "CurrentStateDifference",
    "CurrentStateResult",
    "current_state_rebuild",
    "verify_current_state",
]

#: At most this many differences are listed (the count is always exact).
MAX_LISTED = 50
_RANK = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
_COMPARED = (
    "status", "severity", "message", "controls", "collector_key", "evidence_id", "run_id",
    "collected_at", "first_seen_at", "last_changed_at",
)  # fmt: skip
_ITEMS_PER_BATCH = 500
# Times are compared as the database renders them (the result rows' times are copied from
# the findings' by SQL, so equal values render equally): parsing three timestamps per row
# into datetimes would dominate the check's run time.
_TIMES = ("collected_at", "first_seen_at", "last_changed_at")
_COMPARED_TEXT = tuple(f"{n}_text" if n in _TIMES else n for n in _COMPARED)
_FINDING_FIELDS = (
    "id", "evidence_id", "assertion_id", "resource", "status", "severity", "message",
    "controls", "collected",
)  # fmt: skip

Key = tuple[str, str, int | None]  # (assertion id, resource, connection id)


@dataclass(frozen=True)
class CurrentStateDifference:
    """One row of current state that history does not support (or that is missing)."""

    assertion_id: str
    resource: str
    connection_id: int | None
    problem: str

    def describe(self, names: dict[int, str] | None = None) -> str:
        source = "no connection"
        if self.connection_id is not None:
            name = (names or {}).get(self.connection_id)
            source = (
                f"connection {name!r} (id {self.connection_id})"
                if name
                else (f"connection id {self.connection_id}")
            )
        return f"{self.assertion_id} · {self.resource} · {source}: {self.problem}"


@dataclass(frozen=True)
class CurrentStateResult:
    """Outcome of :func:`verify_current_state`."""

    rows: int  # rows in the table
    expected: int  # rows history implies
    differences: list[CurrentStateDifference] = field(default_factory=list)
    total_differences: int = 0
    names: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.total_differences == 0

    def summary(self) -> str:
        if self.ok:
            return f"OK: current state matches history ({self.rows} rows)"
        lines = [
            f"FAILED: {self.total_differences} current-state row(s) differ from history "
            f"({self.rows} rows in the table, {self.expected} derived from history):"
        ]
        lines += [f"  {d.describe(self.names)}" for d in self.differences]
        if self.total_differences > len(self.differences):
            lines.append(f"  ... and {self.total_differences - len(self.differences)} more")
        return "\n".join(lines)


def _as_text(name: str) -> Cast:
    return Cast(name, output_field=TextField())


def _items() -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    rows = (
        EvidenceItem.objects.order_by("seq")
        .values("id", "seq", "collector_key", "connection_id", "run__trigger", "run__connection_id")
        .iterator(chunk_size=2000)
    )
    for row in rows:
        batch.append(row)
        if len(batch) >= _ITEMS_PER_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _findings(item_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in item_ids}
    rows = (
        Finding.objects.filter(evidence_id__in=item_ids)
        .annotate(collected=_as_text("collected_at"))
        .order_by("evidence_id", "id")
        .values(*_FINDING_FIELDS)
        .iterator(chunk_size=5000)
    )
    for row in rows:
        out[row["evidence_id"]].append(row)
    return out


def _appended(item: dict[str, Any]) -> bool:
    """Evidence appended by ``evidence_append`` (its run: manual, no connection) merges into
    current state; a collection replaces its source's rows."""
    return item["run__trigger"] == RunTrigger.MANUAL and item["run__connection_id"] is None


def _rebuild_results() -> dict[Key, dict[str, Any]]:
    state: dict[Key, dict[str, Any]] = {}
    by_source: dict[tuple[str, int | None], set[Key]] = {}
    for batch in _items():
        findings = _findings([item["id"] for item in batch])
        for item in batch:
            conn = item["connection_id"]
            chosen: dict[tuple[str, str], dict[str, Any]] = {}
            for f in findings[item["id"]]:
                pair = (f["assertion_id"], f["resource"])
                best = chosen.get(pair)
                if best is None or _RANK.get(f["status"], 9) < _RANK.get(best["status"], 9):
                    chosen[pair] = f
            source = (item["collector_key"], conn)
            for (assertion_id, resource), f in chosen.items():
                key = (assertion_id, resource, conn)
                row = state.get(key)
                if row is None:
                    row = state[key] = {
                        "first_seen_at": f["collected"],
                        "last_changed_at": f["collected"],
                    }
                else:
                    if row["status"] != f["status"]:
                        row["last_changed_at"] = f["collected"]
                    by_source.get((row["collector_key"], conn), set()).discard(key)
                row.update(
                    status=f["status"], severity=f["severity"], message=f["message"],
                    controls=f["controls"], collector_key=item["collector_key"],
                    evidence_id=item["id"], run_id=None, collected_at=f["collected"],
                )  # fmt: skip
                by_source.setdefault(source, set()).add(key)
            if not _appended(item):
                keys = by_source.get(source, set())
                for key in [k for k in keys if state[k]["evidence_id"] != item["id"]]:
                    keys.discard(key)
                    del state[key]
    return state


def _rebuild_failures(results: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    failed = connections_failed()
    current = current_assertions(
        {"connection_id": conn, "assertion_id": a, "severity": row["severity"],
         "controls": row["controls"]}
        for (a, _, conn), row in results.items()
        if conn in failed
    )  # fmt: skip
    out: dict[Key, dict[str, Any]] = {}
    for conn, run in failed.items():
        for r in run_failure_rows(run=run, current=current.get(conn, {})):
            out[(r.assertion_id, r.resource, conn)] = {
                "status": r.status, "severity": r.severity, "message": r.message,
                "controls": r.controls, "collector_key": r.collector_key,
                "evidence_id": None, "run_id": r.run_id,
            }  # fmt: skip
    return out


def current_state_rebuild() -> dict[Key, dict[str, Any]]:
    """What ``LatestResult`` must hold, derived from history and runs: (assertion, resource,
    connection id) -> the row's compared fields (run-failure rows carry no times: those
    depend on when the rows were written, which no history records)."""
    results = _rebuild_results()
    results.update(_rebuild_failures(results))
    return results


def _same(field_name: str, stored: Any, expected: Any) -> bool:
    if field_name == "controls":
        return list(stored or []) == list(expected or [])
    return stored == expected


def _compare(stored: dict[str, Any], expected: dict[str, Any]) -> str | None:
    changed = [
        name
        for name in _COMPARED
        if name in expected and not _same(name, stored[name], expected[name])
    ]
    if not changed:
        return None
    parts = []
    for name in changed:
        parts.append(f"{name} is {stored[name]!r}, history says {expected[name]!r}")
    return "; ".join(parts)


def verify_current_state() -> CurrentStateResult:
    """Rebuild current state from history and name every ``LatestResult`` row that differs,
    is missing, or has no support in history (reads in one snapshot)."""
    outermost = not db_connection.in_atomic_block
    with transaction.atomic():
        if db_connection.vendor == "postgresql" and outermost:
            # One snapshot for the replay and the table: concurrent appends are not seen.
            with db_connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        expected = current_state_rebuild()
        expected_count = len(expected)
        differences: list[CurrentStateDifference] = []
        total = rows = 0
        stored_rows = (
            LatestResult.objects.annotate(**{f"{t}_text": _as_text(t) for t in _TIMES})
            .order_by("id")
            .values("assertion_id", "resource", "connection_id", *_COMPARED_TEXT)
            .iterator(chunk_size=5000)
        )
        for stored in stored_rows:
            for name in _TIMES:
                stored[name] = stored.pop(f"{name}_text")
            rows += 1
            key = (stored["assertion_id"], stored["resource"], stored["connection_id"])
            want = expected.pop(key, None)
            if want is None:
                kind = "run-failure row" if stored["run_id"] else "row"
                problem = f"{kind} with status {stored['status']!r} is not derived from history"
            else:
                problem = _compare(stored, want)
            if problem:
                total += 1
                if len(differences) < MAX_LISTED:
                    differences.append(CurrentStateDifference(*key, problem))
        missing = sorted(expected.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0))
        for key, want in missing:
            total += 1
            if len(differences) < MAX_LISTED:
                differences.append(
                    CurrentStateDifference(
                        *key, f"missing (history says status {want['status']!r})"
                    )
                )
        conn_ids = {d.connection_id for d in differences if d.connection_id is not None}
        names = dict(Connection.objects.filter(pk__in=conn_ids).values_list("pk", "name"))
    return CurrentStateResult(
        rows=rows,
        expected=expected_count,
        differences=differences,
        total_differences=total,
        names=names,
    )
