"""The daily coverage rollup (``CoverageDay``): written at ingest, rebuilt from history.

One row per assertion and UTC day on which a collection touched the assertion (see the
model's docstring). Both writers follow the same rules, so a rebuild equals what the
ingest hook wrote when collections were ingested in chain order:

- A collection of a *source* (collector key + connection) replaces that source's current
  results, exactly as the current-state table does; run-failure rows (no evidence) are not
  part of the rollup (a connection that keeps failing shows as stale once its evidence ages).
- The assertions touched by a collection are those it reports plus those the source's
  previous collection reported (a result that disappears changes the current state too).
- For each touched assertion: ``status`` = worst of (that day's row, this collection's
  results, the current state after it); ``end_status``/``end_expires_at`` = the current
  state after it. No row is written for an assertion that never had a result.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

from django.db import transaction

from pixaudit.evidence.models import EvidenceItem, Finding, LatestResult
from pixaudit.posture.models import CoverageDay

__all__ = ["coverage_after_ingest", "coverage_rebuild", "coverage_rows_without", "result_worst"]

logger = logging.getLogger("pixaudit.posture.rollup")

# Finding status -> rollup status: WARN ("needs review") does not demonstrate the control.
_RANK = {"": 0, "pass": 1, "error": 2, "fail": 3}
_FROM_FINDING = {"pass": "pass", "warn": "error", "error": "error", "fail": "fail"}


def result_worst(*statuses: str) -> str:
    """Worst of rollup statuses (``fail`` > ``error`` > ``pass`` > ``""``)."""
    return max(statuses, key=lambda s: _RANK[s], default="")


def _day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _item_results(evidence_ids, assertion_ids=None) -> dict[int, dict[str, str]]:
    """evidence id -> {assertion id: worst rollup status of its findings} (one query);
    ``assertion_ids``: only those assertions."""
    result: dict[int, dict[str, str]] = defaultdict(dict)
    findings = Finding.objects.filter(evidence_id__in=evidence_ids)
    if assertion_ids is not None:
        findings = findings.filter(assertion_id__in=sorted(assertion_ids))
    rows = findings.values_list("evidence_id", "assertion_id", "status").distinct()
    for evidence_id, assertion_id, status in rows:
        per = result[evidence_id]
        per[assertion_id] = result_worst(per.get(assertion_id, ""), _FROM_FINDING[status])
    return result


def coverage_after_ingest(*, item: EvidenceItem) -> None:
    """Post-ingest hook (``PIXAUDIT_POST_INGEST_HOOKS``): update the rollup for ``item``.

    Runs after the collection committed; reads the current-state table for the end state.
    """
    previous = (
        EvidenceItem.objects.filter(
            collector_key=item.collector_key, connection_id=item.connection_id, seq__lt=item.seq
        )
        .order_by("-seq")
        .values_list("pk", flat=True)
        .first()
    )
    ids = [item.pk] + ([previous] if previous else [])
    results = _item_results(ids)
    own = results.get(item.pk, {})
    touched = set(own) | set(results.get(previous, {}))
    if not touched:
        return
    # Current state after this collection: worst result and, per source, its evidence.
    end_status: dict[str, str] = {}
    sources: dict[str, dict[tuple[str, int | None], int]] = defaultdict(dict)
    current = (
        LatestResult.objects.filter(assertion_id__in=sorted(touched), evidence__isnull=False)
        .values_list("assertion_id", "status", "collector_key", "connection_id", "evidence_id")
        .distinct()
    )
    for assertion_id, status, key, connection_id, evidence_id in current:
        end_status[assertion_id] = result_worst(
            end_status.get(assertion_id, ""), _FROM_FINDING[status]
        )
        sources[assertion_id][(key, connection_id)] = evidence_id
    evidence_ids = {e for per in sources.values() for e in per.values()}
    expiry = dict(EvidenceItem.objects.filter(pk__in=evidence_ids).values_list("pk", "expires_at"))
    day = _day_of(item.collected_at)
    with transaction.atomic():
        for assertion_id in sorted(touched):
            # The assertion's newest rows, locked: today's (single-day) row, or the two rows a
            # new day may merge (a finished single day into the run before it).
            last = list(
                CoverageDay.objects.select_for_update()
                .filter(assertion_id=assertion_id, day__lte=day)
                .order_by("-day")[:2]
            )
            end = end_status.get(assertion_id, "")
            if assertion_id not in own and not end and not last:
                continue
            if last and last[0].day == day:
                row = last[0]
            else:
                if len(last) == 2:
                    _merge(last[1], last[0])
                row = CoverageDay(assertion_id=assertion_id, day=day, until=day)
            expires = min((expiry[e] for e in sources[assertion_id].values()), default=None)
            row.status = result_worst(row.status, own.get(assertion_id, ""), end)
            row.end_status = end
            row.end_expires_at = expires
            row.end_stale_on = None if expires is None else _day_of(expires)
            row.save()


def _final(row: CoverageDay) -> str:
    """The result of a finished single day (judged at its end), or of a run."""
    if row.until != row.day:
        return row.status
    if row.status == "pass" and row.end_stale_on is not None and row.end_stale_on <= row.day:
        return "stale"
    return row.status


def _mergeable(before: CoverageDay, after: CoverageDay) -> bool:
    return (
        after.until == after.day
        and before.until == after.day - timedelta(days=1)
        and _final(before) == _final(after)
    )


def _merge(before: CoverageDay, after: CoverageDay, *, save: bool = True) -> bool:
    """Fold the finished single day ``after`` into ``before`` when they form one run."""
    if not _mergeable(before, after):
        return False
    before.status = _final(after)
    before.until = after.until
    before.end_status = after.end_status
    before.end_expires_at = after.end_expires_at
    before.end_stale_on = after.end_stale_on
    if save:
        before.save()
        after.delete()
    return True


def coverage_rebuild(*, batch: int = 2000) -> int:
    """Recompute the whole rollup from the evidence history (chain order); returns rows.

    Replaces every ``CoverageDay`` row in one transaction. Reads each evidence item once and
    the findings aggregated per (item, assertion, status), never finding by finding.
    """
    items = list(
        EvidenceItem.objects.order_by("seq").values_list(
            "pk", "collector_key", "connection_id", "collected_at", "expires_at"
        )
    )
    merged = _rollup(items, batch=batch)
    with transaction.atomic():
        CoverageDay.objects.all().delete()
        CoverageDay.objects.bulk_create(merged, batch_size=5000)
    logger.info("coverage rollup rebuilt: %d rows from %d collections", len(merged), len(items))
    return len(merged)


def coverage_rows_without(
    *,
    connections: Collection[int],
    assertion_ids: Collection[str],
    collector_keys: Collection[str],
    up_to_seq: int | None = None,
    batch: int = 2000,
) -> dict[str, list[CoverageDay]]:
    """The rollup of ``assertion_ids`` as if ``connections`` had never been collected:
    assertion -> its rows by day (unsaved; built by the same rules as
    :func:`coverage_rebuild`, from the history of ``collector_keys``' other connections up
    to chain position ``up_to_seq``). What a report limited to one AWS account or OU reads
    for the AWS checks instead of the stored, estate-wide rollup."""
    items = EvidenceItem.objects.filter(collector_key__in=sorted(collector_keys)).exclude(
        connection_id__in=sorted(connections)
    )
    if up_to_seq is not None:
        items = items.filter(seq__lte=up_to_seq)
    rows = list(
        items.order_by("seq").values_list(
            "pk", "collector_key", "connection_id", "collected_at", "expires_at"
        )
    )
    out: dict[str, list[CoverageDay]] = {a: [] for a in assertion_ids}
    for row in _rollup(rows, batch=batch, assertion_ids=set(assertion_ids)):
        out[row.assertion_id].append(row)
    return out


def _rollup(items, *, batch: int, assertion_ids: set[str] | None = None) -> list[CoverageDay]:
    """The rollup rows (merged into runs, unsaved) of ``items`` in chain order: ``(pk,
    collector key, connection id, collected_at, expires_at)``."""
    # source -> (evidence expiry, {assertion: worst}) of its latest collection
    state: dict[tuple[str, int | None], tuple[datetime, dict[str, str]]] = {}
    reporting: dict[str, set[tuple[str, int | None]]] = defaultdict(set)
    rows: dict[tuple[str, date], CoverageDay] = {}
    seen: set[str] = set()
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        results = _item_results([pk for pk, *_ in chunk], assertion_ids)
        for pk, key, connection_id, collected_at, expires_at in chunk:
            source = (key, connection_id)
            own = results.get(pk, {})
            old = state.get(source, (expires_at, {}))[1]
            state[source] = (expires_at, own)
            for assertion_id in old.keys() - own.keys():
                reporting[assertion_id].discard(source)
            for assertion_id in own:
                reporting[assertion_id].add(source)
            day = _day_of(collected_at)
            for assertion_id in sorted(set(old) | set(own)):
                srcs = reporting[assertion_id]
                end = result_worst(*(state[s][1][assertion_id] for s in srcs))
                row = rows.get((assertion_id, day))
                if row is None:
                    if assertion_id not in own and not end and assertion_id not in seen:
                        continue
                    seen.add(assertion_id)
                    row = rows[(assertion_id, day)] = CoverageDay(
                        assertion_id=assertion_id, day=day, until=day
                    )
                row.status = result_worst(row.status, own.get(assertion_id, ""), end)
                row.end_status = end
                expires = min((state[s][0] for s in srcs), default=None)
                row.end_expires_at = expires
                row.end_stale_on = None if expires is None else _day_of(expires)
    return _runs(rows.values())


def _runs(rows) -> list[CoverageDay]:
    """Merge days into runs exactly as ingest does: when a day gets its row, the previous
    (finished) day joins the run before it if it continues it."""
    by_assertion: dict[str, list[CoverageDay]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.assertion_id, r.day)):
        out = by_assertion[row.assertion_id]
        if len(out) >= 2 and _merge(out[-2], out[-1], save=False):
            out.pop()
        out.append(row)
    return [row for out in by_assertion.values() for row in out]
