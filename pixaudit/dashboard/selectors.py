"""Reads for the dashboard's operational pages (connections, runs, evidence)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, Exists, OuterRef, QuerySet, Subquery, Value, When

from collectors import registry
from pixaudit.evidence.models import (
    CollectionRun,
    Connection,
    EvidenceItem,
    Finding,
    FindingStatus,
    RunStatus,
)
from pixaudit.evidence.selectors import evidence_list


@dataclass
class ConnectionRow:
    connection: Connection
    last_run: CollectionRun | None
    collector_title: str
    #: A push collector's connection: evidence arrives by API, it is never run.
    pushed: bool = False
    #: A (legacy) connection of an app register: where the app records its rows; never run.
    recorded_in: str = ""

    @property
    def status(self) -> str:
        """A word for the connection's state: disabled, running, failing, healthy, new."""
        if self.last_run is not None and self.last_run.status in (
            RunStatus.QUEUED,
            RunStatus.RUNNING,
        ):
            return self.last_run.status
        if not self.connection.enabled:
            return "disabled"
        if self.last_run is None:
            return "never_pushed" if self.pushed else "never_run"
        return "failing" if self.last_run.status == RunStatus.FAILED else "healthy"

    @property
    def status_label(self) -> str:
        return {
            "queued": "Queued",
            "running": "Running",
            "disabled": "Disabled",
            "never_run": "Never run",
            "never_pushed": "Nothing pushed yet",
            "failing": "Failing",
            "healthy": "Healthy",
        }[self.status]


def collector_titles() -> dict[str, str]:
    registry.discover()
    return {cls.key: cls.title for cls in registry.all_collectors()}


def connection_rows() -> list[ConnectionRow]:
    """Every connection with its latest run (two queries)."""
    latest = CollectionRun.objects.filter(connection=OuterRef("pk")).order_by("-queued_at", "-id")
    connections = list(
        Connection.objects.annotate(last_run_id=Subquery(latest.values("pk")[:1])).order_by("name")
    )
    runs = CollectionRun.objects.in_bulk([c.last_run_id for c in connections if c.last_run_id])
    titles = collector_titles()
    pushed = {cls.key for cls in registry.all_collectors() if getattr(cls, "push", False)}
    registers = {
        cls.key: cls.recorded_in
        for cls in registry.all_collectors()
        if getattr(cls, "app_register", False)
    }
    return [
        ConnectionRow(
            c,
            runs.get(c.last_run_id),
            titles.get(c.collector_key, c.collector_key),
            pushed=c.collector_key in pushed,
            recorded_in=registers.get(c.collector_key, ""),
        )
        for c in connections
    ]


def run_list(*, connection: Connection | None = None, status: str = "") -> QuerySet[CollectionRun]:
    qs = CollectionRun.objects.select_related("connection")
    if connection is not None:
        qs = qs.filter(connection=connection)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-queued_at", "-id")


def run_attempts(*, run: CollectionRun, limit: int = 20) -> list[CollectionRun]:
    """Every attempt of the collection ``run`` belongs to, first attempt first.

    Attempts are linked by ``retry_of`` (one retry per run); at most ``limit`` are read
    each way, one query per attempt (there are three by default).
    """
    first = run
    for _ in range(limit):
        if not first.retry_of_id:
            break
        previous = CollectionRun.objects.filter(pk=first.retry_of_id).first()
        if previous is None:
            break
        first = previous
    chain = [first]
    for _ in range(limit):
        following = CollectionRun.objects.filter(retry_of=chain[-1]).first()
        if following is None:
            break
        chain.append(following)
    return chain


def run_evidence(*, run: CollectionRun) -> EvidenceItem | None:
    return EvidenceItem.objects.filter(run=run).order_by("-seq").first()


def evidence_browse(
    *,
    collector_key: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    resource: str = "",
    status: str = "",
) -> QuerySet[EvidenceItem]:
    """Evidence by collection time, newest first (the evidence app's selector + joins).

    ``resource`` (a substring, case-insensitive) and ``status`` keep the items that hold a
    finding matching both, e.g. every collection in which a given bucket failed.
    """
    items = evidence_list(collector_key=collector_key or None, since=since, until=until)
    if resource or status:
        findings = Finding.objects.filter(evidence=OuterRef("pk"))
        if resource:
            findings = findings.filter(resource__icontains=resource)
        if status:
            findings = findings.filter(status=status)
        items = items.filter(Exists(findings))
    return items.select_related("connection")


def evidence_collector_keys() -> list[str]:
    """Collector keys to offer in the evidence filter: registered ones plus any seen."""
    return sorted(collector_titles())


#: Findings of an item are listed what-to-fix first.
FINDING_STATUS_ORDER = (
    FindingStatus.FAIL,
    FindingStatus.ERROR,
    FindingStatus.WARN,
    FindingStatus.PASS,
)


def evidence_findings(*, evidence: EvidenceItem) -> QuerySet[Finding]:
    """The item's findings, failures and errors first; page it (an item can hold thousands)."""
    rank = Case(
        *(When(status=s, then=Value(i)) for i, s in enumerate(FINDING_STATUS_ORDER)),
        default=Value(len(FINDING_STATUS_ORDER)),
    )
    return (
        Finding.objects.filter(evidence=evidence)
        .annotate(status_rank=rank)
        .order_by("status_rank", "assertion_id", "resource", "id")
    )


def evidence_finding_counts(*, evidence: EvidenceItem) -> list[tuple[str, str, int]]:
    """``(status, label, count)`` for the item's findings in fix-first order (one query)."""
    counts = dict(
        Finding.objects.filter(evidence=evidence)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [
        (s.value, s.label, counts[s.value]) for s in FINDING_STATUS_ORDER if counts.get(s.value)
    ]
