"""Revocation follow-ups: did the next collection of the source confirm the decision?

When a campaign completes, every revoke (and modify) decision becomes a ``FollowUp``. After
each successful collection, the runner calls :func:`followups_after_ingest` (configured in
``settings.PIXAUDIT_POST_INGEST_HOOKS``; it runs after the collection committed, so it can
never lose or slow the collection). It looks the account up in the new population:

- revoke: gone, or no longer active at the source -> applied (PASS); still active -> FAIL;
- modify: gone, or privileges / privileged flag differ from the snapshot -> applied;
  unchanged -> FAIL.

Each check appends one ``access_review`` item to the evidence chain with one finding per
account (``access_review.revocations_applied`` / ``.modifications_applied``, resource
``<connection>/<account_id>``), so "unremoved access" is a failing result of CC6.2/CC6.3/
A.5.18 in posture, with history. Follow-ups that failed are checked again by every later
collection until they pass. ``manage.py reviews_check_followups`` re-runs the check from each
source's latest evidence (catch-up if a hook ever failed); checking an item twice is a no-op.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from collectors.base import Status
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.services.append import evidence_append
from pixaudit.reviews.assertions import FOLLOWUP_ASSERTION, REVIEW_COLLECTOR_KEY, review_finding
from pixaudit.reviews.models import Decision, FollowUp
from pixaudit.reviews.services.population import population_evidence, population_rows

__all__ = ["followups_after_ingest", "followups_check", "followups_check_all"]

logger = logging.getLogger("pixaudit.reviews.followups")

#: Account statuses that mean the access is gone although the account still exists.
INACTIVE_STATUSES = frozenset(
    {"suspended", "deprovisioned", "disabled", "inactive", "deleted", "deactivated", "locked"}
)
OPEN = (FollowUp.Status.PENDING, FollowUp.Status.NOT_APPLIED)


def _evaluate(followup: FollowUp, row: dict[str, Any] | None) -> tuple[bool, str]:
    entry = followup.entry
    who = entry.display_name or entry.account_id
    if row is None:
        return True, f"{who}: the account no longer exists at the source."
    status = (row.get("status") or "").lower()
    if entry.decision == Decision.REVOKE:
        if status in INACTIVE_STATUSES:
            return True, f"{who}: the account is {status} at the source."
        return (
            False,
            f"{who}: access was to be revoked but the account is still {status or 'present'}.",
        )
    if row.get("privileges") != entry.privileges or row.get("is_privileged") != entry.is_privileged:
        return True, f"{who}: privileges changed as decided."
    return False, f"{who}: a modification was decided but the privileges are unchanged."


def followups_check(*, item: EvidenceItem) -> EvidenceItem | None:
    """Check the open follow-ups of ``item``'s connection against its population; append the
    results to the chain. Returns the appended item, or None when there was nothing to check."""
    if item.connection_id is None:
        return None
    connection = Connection.objects.filter(pk=item.connection_id).first()
    if connection is None or item.collector_key != connection.collector_key:
        return None
    followups = list(
        FollowUp.objects.filter(connection=connection, status__in=OPEN)
        .exclude(checked_evidence=item)
        # Only a collection appended after the campaign completed (after the decisions)
        # can show whether they were applied.
        .filter(entry__campaign__completion_evidence__seq__lt=item.seq)
        .select_related("entry__campaign__completion_evidence")
        .order_by("entry__account_id", "pk")
    )
    if not followups:
        return None
    rows = {r["account_id"]: r for r in population_rows(item=item)}
    now = timezone.now()
    results, findings = [], []
    for followup in followups:
        entry = followup.entry
        applied, message = _evaluate(followup, rows.get(entry.account_id))
        results.append((followup, applied, message))
        findings.append(
            review_finding(
                FOLLOWUP_ASSERTION[entry.decision],
                f"{connection.name}/{entry.account_id}",
                Status.PASS if applied else Status.FAIL,
                message,
            )
        )
    expires = max(
        (f.entry.campaign.completion_evidence.expires_at for f in followups
         if f.entry.campaign.completion_evidence_id),
        default=item.expires_at,
    )  # fmt: skip
    document = {
        "kind": "access_review_followup",
        "source": {"connection": connection.name, "collector_key": connection.collector_key},
        "checked_evidence": {"seq": item.seq, "sha256": item.sha256},
        "results": [
            {
                "campaign_id": f.entry.campaign_id,
                "account_id": f.entry.account_id,
                "decision": f.entry.decision,
                "applied": applied,
                "message": message,
            }
            for f, applied, message in results
        ],
    }

    def _record(appended: EvidenceItem) -> None:
        for followup, applied, message in results:
            followup.status = FollowUp.Status.APPLIED if applied else FollowUp.Status.NOT_APPLIED
            followup.checked_at, followup.message = now, message
            followup.checked_evidence, followup.result_evidence = item, appended
        FollowUp.objects.bulk_update(
            [r[0] for r in results],
            ["status", "checked_at", "message", "checked_evidence", "result_evidence"],
        )

    return evidence_append(
        collector_key=REVIEW_COLLECTOR_KEY,
        document=document,
        collected_at=item.collected_at,
        expires_at=expires,
        findings=findings,
        rows_count=len(results),
        provenance={"checked_evidence_seq": item.seq},
        then=_record,
    )


def followups_after_ingest(*, item: EvidenceItem) -> None:
    """The post-ingest hook (``settings.PIXAUDIT_POST_INGEST_HOOKS``)."""
    if (
        item.connection_id is None
        or not FollowUp.objects.filter(connection_id=item.connection_id, status__in=OPEN).exists()
    ):
        return
    followups_check(item=item)


def followups_check_all() -> int:
    """Catch-up: check open follow-ups against each source's latest evidence."""
    checked = 0
    ids = set(FollowUp.objects.filter(status__in=OPEN).values_list("connection_id", flat=True))
    for connection in Connection.objects.filter(pk__in=ids):
        item = population_evidence(connection=connection)
        if item is not None and followups_check(item=item) is not None:
            checked += 1
    return checked
