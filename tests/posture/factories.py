"""Direct builders of evidence rows for posture tests (bypass the runner for precise states)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from pixaudit.controls.models import CheckMapping, Control
from pixaudit.evidence.models import CollectionRun, EvidenceItem, Finding, LatestResult

_counter = itertools.count(1)


def _hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_evidence(
    *,
    collector_key: str = "synth",
    collected_at: datetime | None = None,
    max_age: timedelta = timedelta(days=1),
) -> EvidenceItem:
    n = next(_counter)
    collected_at = collected_at or timezone.now()
    run = CollectionRun.objects.create(
        collector_key=collector_key, trigger="manual", status="succeeded"
    )
    return EvidenceItem.objects.create(
        run=run,
        collector_key=collector_key,
        collector_version=1,
        pixaudit_version="test",
        collected_at=collected_at,
        effective_at=collected_at,
        expires_at=collected_at + max_age,
        row_count=0,
        findings_count=0,
        sha256=_hex(f"a{n}"),
        artifact_path=f"evidence/test/{n}.json",
        size=0,
        findings_digest=_hex(f"d{n}"),
        seq=1_000_000 + n,
        prev_chain_hash="0" * 64,
        chain_hash=_hex(f"c{n}"),
    )


def make_result(
    evidence: EvidenceItem,
    assertion_id: str,
    resource: str,
    status: str,
    severity: str = "high",
    *,
    history: bool = True,
    latest: bool = True,
) -> LatestResult | None:
    if history:
        Finding.objects.create(
            evidence=evidence,
            run_id=evidence.run_id,
            assertion_id=assertion_id,
            resource=resource,
            status=status,
            severity=severity,
            message=f"{resource} {status}",
            collected_at=evidence.collected_at,
        )
    if not latest:
        return None
    return LatestResult.objects.create(
        assertion_id=assertion_id,
        resource=resource,
        collector_key=evidence.collector_key,
        status=status,
        severity=severity,
        message=f"{resource} {status}",
        evidence=evidence,
        collected_at=evidence.collected_at,
        first_seen_at=evidence.collected_at,
        last_changed_at=evidence.collected_at,
    )


def map_assertion(assertion_id: str, control: Control) -> CheckMapping:
    return CheckMapping.objects.create(assertion_id=assertion_id, control=control, rationale="t")
