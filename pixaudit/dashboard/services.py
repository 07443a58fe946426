"""Actions the dashboard starts that are not plain model writes.

``connection_run_now`` hands a manual run to the job layer
(``pixaudit.evidence.services.scheduling``);
``evidence_item_verify`` recomputes one item's hashes (the single-item counterpart of
``manage.py verify_evidence``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.integrity import item_chain_hash, item_findings_digest
from pixaudit.evidence.models import GENESIS_HASH, CollectionRun, Connection, EvidenceItem
from pixaudit.evidence.storage import artifact_exists, artifact_sha256


def connection_run_now(
    *, connection: Connection, user: Any = None, request: Any = None
) -> CollectionRun:
    """Queue a manual run (in-process queues complete it before this returns).

    A run left by a dead worker or a lost job does not block it; a retry waiting for its
    due time starts now instead. Raises ``pixaudit.evidence.services.CollectionRunActive``
    when a live run is already active.
    Audited as ``connection.run_requested`` (who asked, which run).
    """
    from pixaudit.evidence.services.scheduling import collection_run_start

    with transaction.atomic():
        run = collection_run_start(connection=connection, trigger="manual")
        audit_log_record(actor=user, action="connection.run_requested", obj=connection,
                         request=request, run_id=run.pk)  # fmt: skip
    run.refresh_from_db()
    return run


@dataclass
class VerifyCheck:
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyOutcome:
    item: EvidenceItem
    checks: list[VerifyCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def evidence_item_verify(
    *, item: EvidenceItem, user: Any = None, request: Any = None
) -> VerifyOutcome:
    """Recompute the artifact's SHA-256, the findings digest and the chain link of one item.

    The check and its result are audited (``evidence.verified``).
    """
    outcome = _evidence_item_checks(item)
    failed = [check.name for check in outcome.checks if not check.ok]
    audit_log_record(actor=user, action="evidence.verified", obj=item, request=request,
                     ok=outcome.ok, failed=failed)  # fmt: skip
    return outcome


def _evidence_item_checks(item: EvidenceItem) -> VerifyOutcome:
    outcome = VerifyOutcome(item)
    if not artifact_exists(item.artifact_path):
        outcome.checks.append(VerifyCheck("Artifact hash", False, "The artifact file is missing."))
    else:
        actual = artifact_sha256(item.artifact_path)
        outcome.checks.append(
            VerifyCheck(
                "Artifact hash",
                actual == item.sha256,
                f"SHA-256 of the stored file is {actual}"
                + ("." if actual == item.sha256 else f", expected {item.sha256}."),
            )
        )
    digest = item_findings_digest(item)
    outcome.checks.append(
        VerifyCheck(
            "Findings digest",
            digest == item.findings_digest,
            "Findings match the digest sealed in the chain."
            if digest == item.findings_digest
            else "A finding row was changed, added or removed.",
        )
    )
    expected_prev = (
        GENESIS_HASH
        if item.seq == 1
        else EvidenceItem.objects.filter(seq=item.seq - 1)
        .values_list("chain_hash", flat=True)
        .first()
    )
    linked = expected_prev == item.prev_chain_hash
    outcome.checks.append(
        VerifyCheck(
            "Chain link",
            linked,
            f"Links to item seq {item.seq - 1}."
            if linked and item.seq > 1
            else "First item of the chain."
            if linked
            else "prev_chain_hash does not match the previous item's chain hash.",
        )  # fmt: skip
    )
    # By the item's digest version; version 2 also covers its times, source, run and sizes.
    recomputed = item_chain_hash(item, item.prev_chain_hash)
    outcome.checks.append(
        VerifyCheck(
            "Chain hash",
            recomputed == item.chain_hash,
            "Recomputed chain hash matches."
            if recomputed == item.chain_hash
            else f"Recomputed {recomputed}, stored {item.chain_hash}.",
        )
    )
    return outcome
