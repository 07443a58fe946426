"""Hand-built findings histories: one chained item per day, through the real append path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction

from collectors.base import Finding, Severity, Status
from pixaudit.evidence.canonical import canonical_bytes, sha256_hex
from pixaudit.evidence.models import (
    CollectionRun,
    Connection,
    EvidenceItem,
    RunStatus,
    RunTrigger,
)
from pixaudit.evidence.services.ingest import chain_append_locked, chain_lock
from pixaudit.evidence.storage import artifact_store
from pixaudit.exceptions.services import exceptions_sync

ENCRYPTION = "demo_inventory.encryption_at_rest"  # high, mapped to soc2-2017:CC6.1
MFA = "demo_inventory.mfa_enabled"
BASE = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)


def day_at(day: int) -> datetime:
    """Day ``day`` of the history (day 1 = BASE), 06:00 UTC."""
    return BASE + timedelta(days=day - 1)


class History:
    """``day(n, {resource: status})`` appends the collection of day ``n`` of one connection."""

    def __init__(self, *, name: str = "inventory", sync: bool = True, connection=True) -> None:
        self.connection = (
            Connection.objects.create(name=name, collector_key="demo_inventory")
            if connection
            else None
        )
        self.sync = sync
        self.items: dict[int, EvidenceItem] = {}

    def day(
        self,
        n: int,
        results: dict[str, str],
        *,
        assertion: str = ENCRYPTION,
        severity: str = "high",
        appended: bool = False,
        extra: list[Finding] | None = None,
    ) -> EvidenceItem:
        at = day_at(n)
        findings = [
            Finding(
                assertion,
                resource,
                Status(status),
                Severity(severity),
                f"{resource} is {status} on day {n}.",
            )  # fmt: skip
            for resource, status in sorted(results.items())
        ] + list(extra or [])
        data = canonical_bytes({"day": n, "connection": self.connection and self.connection.pk,
                                "findings": [f.to_dict() for f in findings]})  # fmt: skip
        sha = sha256_hex(data)
        run = CollectionRun.objects.create(
            connection=None if appended else self.connection,
            collector_key="demo_inventory",
            status=RunStatus.SUCCEEDED,
            trigger=RunTrigger.MANUAL if appended else RunTrigger.SCHEDULE,
        )
        with transaction.atomic():
            head = chain_lock()
            item = chain_append_locked(
                head=head, run=run,
                connection_id=None if appended else getattr(self.connection, "pk", None),
                collector_key="demo_inventory", collector_version=1, sha256=sha,
                artifact_path=artifact_store(data, sha), size=len(data), collected_at=at,
                effective_at=at, expires_at=at + timedelta(days=2), rows_count=len(findings),
                findings=findings, provenance={}, sweep_latest=not appended,
            )  # fmt: skip
        self.items[n] = item
        if self.sync:
            exceptions_sync()
        return item


class MatrixObjects:
    """Sample exceptions for the permission matrix and the audit coverage test: an open one,
    one with a requested acceptance (by the engineer) and one with an approved acceptance."""

    def __init__(self, world) -> None:
        from pixaudit.exceptions.models import (
            AcceptanceStatus,
            ExceptionAcceptance,
            ExceptionRecord,
        )

        item = world.evidence_in
        made = []
        for n in (1, 2, 3):
            record, _ = ExceptionRecord.objects.get_or_create(
                start_evidence=item, assertion_id="demo_inventory.encryption_at_rest",
                resource=f"matrix-{n}",
                defaults={"collector_key": "matrix", "severity": "high", "message": "fails",
                          "opened_at": item.collected_at, "last_evidence": item,
                          "start_seq": item.seq},
            )  # fmt: skip
            made.append(record)
        self.open, with_request, with_approval = made
        today = item.collected_at.date()
        self.requested, _ = ExceptionAcceptance.objects.get_or_create(
            exception=with_request,
            defaults={"reason": "vendor fix due", "expires_on": today + timedelta(days=60),
                      "requested_by": world.engineer},
        )  # fmt: skip
        self.approved, _ = ExceptionAcceptance.objects.get_or_create(
            exception=with_approval,
            defaults={"reason": "compensating control", "expires_on": today + timedelta(days=60),
                      "requested_by": world.engineer, "decided_by": world.admin,
                      "status": AcceptanceStatus.APPROVED, "decided_at": item.collected_at},
        )  # fmt: skip
