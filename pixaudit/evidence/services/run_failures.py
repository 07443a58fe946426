"""Keep the run-failure rows of current state in line with the runs: a failed run shows at once.

When a connection's collection fails for good (a permanent error, or a transient one after
the last attempt), the results of its previous successful run must not keep its controls
green until they expire. :func:`current_state_failures_sync` writes one ERROR row per
assertion the connection proves (``LatestResult`` with ``run`` set, no evidence: nothing is
appended to the chain) and removes the rows of connections that are no longer failed. It is
derived data (:mod:`pixaudit.evidence.selectors_current` decides), so calling it again is
harmless: the runner calls it when a run fails, the stale-run sweep when it fails runs, and
the periodic scheduler job on every tick as a catch-all. The ingest of a successful run
sweeps the rows of its connection in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from pixaudit.evidence.models import LatestResult
from pixaudit.evidence.selectors_current import (
    RunFailureRow,
    connections_failed,
    current_result_assertions,
    run_failure_rows,
)
from pixaudit.evidence.services.ingest import chain_lock

__all__ = ["current_state_failures_sync"]

logger = logging.getLogger("pixaudit.evidence.run_failures")


def _plan(
    ids: set[int] | None,
) -> tuple[
    dict[int, list[RunFailureRow]], dict[int, dict[tuple[str, int], object]], dict[int, Any]
]:
    """(expected rows per failed connection, existing rows per connection, failed runs)."""
    failed = connections_failed(connection_ids=ids)
    current = current_result_assertions(connection_ids=failed) if failed else {}
    expected = {
        conn: run_failure_rows(run=run, current=current.get(conn, {}))
        for conn, run in failed.items()
    }
    existing_qs = LatestResult.objects.filter(run__isnull=False)
    if ids is not None:
        existing_qs = existing_qs.filter(connection_id__in=ids)
    existing: dict[int, dict[tuple[str, int], object]] = {}
    for row in existing_qs.values("connection_id", "assertion_id", "run_id", "first_seen_at"):
        key = (row["assertion_id"], row["run_id"])
        existing.setdefault(row["connection_id"], {})[key] = row["first_seen_at"]
    return expected, existing, failed


def _stale(
    expected: dict[int, list[RunFailureRow]], existing: dict[int, dict[tuple[str, int], object]]
) -> set[int]:
    """Connections whose run-failure rows differ from what the runs say."""
    out = {conn for conn in existing if conn not in expected}
    for conn, rows in expected.items():
        if {(r.assertion_id, r.run_id) for r in rows} != set(existing.get(conn, {})):
            out.add(conn)
    return out


def current_state_failures_sync(*, connection_ids: Iterable[int] | None = None) -> int:
    """Write or remove run-failure rows so they match the runs; returns how many connections
    changed. ``connection_ids`` limits the work to some connections (default: all)."""
    ids = None if connection_ids is None else {int(i) for i in connection_ids if i is not None}
    if ids is not None and not ids:
        return 0
    # A look without the lock first: nearly every call finds nothing to do.
    if not _stale(*_plan(ids)[:2]):
        return 0
    with transaction.atomic():
        # The chain lock serialises with ingests: a run of the connection that succeeds
        # meanwhile either committed before (and the plan below sees its evidence) or waits.
        chain_lock()
        expected, existing, failed_runs = _plan(ids)
        changed = _stale(expected, existing)
        if not changed:
            return 0
        LatestResult.objects.filter(run__isnull=False, connection_id__in=changed).delete()
        now = timezone.now()
        new = []
        for conn in sorted(changed & set(expected)):
            rows = expected[conn]
            run = failed_runs[conn]
            run_time = run.finished_at or run.queued_at or now
            # The connection has been failing since its first failure row, if it had one.
            since = min((t for t in existing.get(conn, {}).values()), default=run_time)
            new.extend(
                LatestResult(
                    assertion_id=r.assertion_id,
                    resource=r.resource,
                    collector_key=r.collector_key,
                    connection_id=r.connection_id,
                    status=r.status,
                    severity=r.severity,
                    message=r.message,
                    controls=r.controls,
                    run_id=r.run_id,
                    collected_at=run_time,
                    first_seen_at=since,
                    last_changed_at=since,
                )
                for r in rows
            )
        LatestResult.objects.bulk_create(new, batch_size=1000)
    logger.info("run-failure rows updated for connection(s) %s", sorted(changed))
    return len(changed)
