"""Reads of the evidence app."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from collectors import registry
from pixaudit.evidence.models import (
    GENESIS_HASH,
    ChainHead,
    CollectionRun,
    Connection,
    EvidenceItem,
    Finding,
    LatestResult,
    RunStatus,
)

__all__ = [
    "chain_head",
    "collector_title",
    "evidence_latest_for_connection",
    "evidence_list",
    "findings_for_evidence",
    "latest_results",
    "runs_active",
]


#: Evidence chained by pixaudit itself rather than a collector, by the key it carries.
NON_COLLECTOR_TITLES = {"manual": "Manual evidence", "access_review": "Access review"}


def collector_title(key: str) -> str:
    """The title people read for a collector key; the key itself when nothing names it."""
    registry.discover()
    try:
        return registry.get(key).title
    except KeyError:
        return NON_COLLECTOR_TITLES.get(key, key)


def evidence_latest_for_connection(*, connection: Connection) -> EvidenceItem | None:
    """The connection's newest evidence (a failed later run leaves this one current)."""
    return EvidenceItem.objects.filter(connection=connection).order_by("-seq").first()


def evidence_list(
    *,
    collector_key: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    connection: Connection | None = None,
) -> QuerySet[EvidenceItem]:
    """Evidence by collection time, newest first; ``since`` inclusive, ``until`` exclusive.

    Audit windows select by collection time (or ``effective_at``), never by upload time.
    """
    qs = EvidenceItem.objects.all()
    if collector_key:
        qs = qs.filter(collector_key=collector_key)
    if connection is not None:
        qs = qs.filter(connection=connection)
    if since is not None:
        qs = qs.filter(collected_at__gte=since)
    if until is not None:
        qs = qs.filter(collected_at__lt=until)
    return qs.order_by("-collected_at", "-seq")


def chain_head() -> tuple[int, str]:
    """``(seq, chain_hash)`` of the newest item; ``(0, GENESIS_HASH)`` for an empty chain."""
    head = ChainHead.objects.filter(pk=1).first()
    return (head.seq, head.chain_hash) if head else (0, GENESIS_HASH)


def findings_for_evidence(*, evidence: EvidenceItem) -> QuerySet[Finding]:
    return Finding.objects.filter(evidence=evidence).order_by("assertion_id", "resource", "id")


def latest_results(
    *,
    assertion_ids: Iterable[str] | None = None,
    connection: Connection | None = None,
) -> QuerySet[LatestResult]:
    """Current status per (assertion, resource, connection), optionally for some assertions
    or one connection only (run-failure rows included: ``run`` set, ``evidence`` null)."""
    qs = LatestResult.objects.all()
    if assertion_ids is not None:
        qs = qs.filter(assertion_id__in=list(assertion_ids))
    if connection is not None:
        qs = qs.filter(connection=connection)
    return qs.order_by("assertion_id", "resource", "connection_id")


def runs_active(*, connection: Connection | None = None) -> QuerySet[CollectionRun]:
    """Queued and running runs."""
    qs = CollectionRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
    if connection is not None:
        qs = qs.filter(connection=connection)
    return qs
