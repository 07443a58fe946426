"""The per-control tables of an evidence pack: every end-of-period result of a control's
assertions and its result counts per collection (read from a built :class:`ReportData`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Count

from pixaudit.evidence.models import Finding
from pixaudit.reports.periods import Period
from pixaudit.reports.selectors import ControlSection, FindingRow


def section_results(*, section: ControlSection) -> Iterator[FindingRow]:
    """Every end-of-period result of a control's assertions (streamed, for pack tables)."""
    wanted = {(a.assertion_id, i) for a in section.assertions for i in a.latest_evidence_ids}
    ids = sorted({i for _, i in wanted})
    if not ids:
        return
    names = {e.id: e.connection_name for e in section.evidence}
    rows = (
        Finding.objects.filter(
            evidence_id__in=ids, assertion_id__in=[a.assertion_id for a in section.assertions]
        )
        .values_list(
            "assertion_id", "resource", "status", "severity", "message", "collected_at",
            "evidence_id",
        )
        .order_by("assertion_id", "resource", "id")
    )  # fmt: skip
    for row in rows.iterator(chunk_size=5000):
        if (row[0], row[6]) in wanted:
            yield FindingRow(*row, names.get(row[6], ""))


def section_collections(*, section: ControlSection, period: Period) -> list[dict[str, Any]]:
    """Per collection in the period: the control's result counts (Type II coverage)."""
    assertion_ids = [a.assertion_id for a in section.assertions]
    if not assertion_ids:
        return []
    rows = (
        Finding.objects.filter(
            assertion_id__in=assertion_ids,
            evidence_id__in=section.evidence_ids,
        )
        .values_list("evidence_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for evidence_id, status, n in rows:
        counts[evidence_id][status] = n
    return [
        {
            "evidence_id": item.id,
            "seq": item.seq,
            "collector_key": item.collector_key,
            "connection": item.connection_name,
            "collected_at": item.collected_at,
            **{s: counts[item.id].get(s, 0) for s in ("pass", "fail", "warn", "error")},
        }
        for item in section.evidence
    ]
