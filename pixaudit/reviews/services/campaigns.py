"""Campaign lifecycle: start (snapshot + seal + diff), assign, decide, complete, recur.

Completion appends ONE evidence item to the evidence chain (collector key
``access_review``): its artifact is the canonical decisions table plus the sealed snapshot's
SHA-256, its findings (mapped to CC6.2, CC6.3 and A.5.18) say the review happened and which
revocations await confirmation by the next collection (``services.followups``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from collectors.base import Status
from collectors.identity import IDENTITY_COLUMN_NAMES
from pixaudit.accounts.permissions import INTERNAL, MANAGERS
from pixaudit.evidence.canonical import canonical_bytes, format_datetime, sha256_hex
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.services.append import evidence_append
from pixaudit.evidence.services.manual import add_months
from pixaudit.evidence.storage import (
    ArtifactStoreError,
    ArtifactTooLarge,
    artifact_read,
    artifact_sha256,
    artifact_store,
)
from pixaudit.lib.single_line import control_characters
from pixaudit.reviews.assertions import (
    FOLLOWUP_ASSERTION,
    REVIEW_COLLECTOR_KEY,
    review_finding,
)
from pixaudit.reviews.models import Campaign, Change, Decision, FollowUp, Recurrence, ReviewEntry
from pixaudit.reviews.services.mappings import review_mappings_ensure
from pixaudit.reviews.services.population import population_evidence, population_rows

__all__ = [
    "ReviewError",
    "campaign_cancel",
    "campaign_complete",
    "campaign_request",
    "campaign_snapshot_take",
    "campaign_start",
    "campaigns_start_due",
    "diff_populations",
    "entries_decide",
    "entry_assign",
    "entry_can_decide",
    "snapshot_rows",
    "snapshot_verify",
]

logger = logging.getLogger(__name__)

RECURRENCE_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}
TRACKED_FIELDS = ("privileges", "is_privileged", "mfa_enabled", "status")


class ReviewError(ValueError):
    """A refused action; ``errors`` maps a field (or an entry id) to a message."""

    def __init__(self, errors: Mapping[str, str] | str):
        self.errors = {"__all__": errors} if isinstance(errors, str) else dict(errors)
        super().__init__("; ".join(self.errors.values()))


def _review_tasks_sync(campaign: Campaign) -> None:
    """The campaign's decision tasks, now rather than at the daily sync (only this campaign)."""
    from pixaudit.tasks.automation import review_tasks_sync  # tasks depends on reviews

    review_tasks_sync(campaign=campaign)


def _audit(user: Any, action: str, obj: Any, **details: Any) -> None:
    from pixaudit.auditlog.services import audit_log_record

    audit_log_record(actor=user, action=action, obj=obj, **details)


# --- Snapshot and diff ---------------------------------------------------------------------


def snapshot_rows(*, campaign: Campaign) -> list[dict[str, Any]]:
    return json.loads(artifact_read(campaign.snapshot_path))["rows"]


def snapshot_verify(*, campaign: Campaign) -> bool:
    """True when the stored snapshot still hashes to the campaign's seal."""
    try:
        return artifact_sha256(campaign.snapshot_path) == campaign.snapshot_sha256
    except OSError:
        return False


def diff_populations(
    previous: list[dict[str, Any]] | None, current: list[dict[str, Any]]
) -> tuple[dict[str, tuple[str, list[dict[str, Any]]]], dict[str, Any]]:
    """``(account_id -> (change, details), summary)`` of ``current`` against ``previous``."""
    if previous is None:
        changes = {r["account_id"]: (Change.FIRST.value, []) for r in current}
        return changes, {"new": 0, "changed": 0, "unchanged": 0, "removed": []}
    before = {r["account_id"]: r for r in previous}
    changes: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for row in current:
        old = before.get(row["account_id"])
        if old is None:
            changes[row["account_id"]] = (Change.NEW.value, [])
            continue
        details = [
            {"field": f, "before": old.get(f), "after": row.get(f)}
            for f in TRACKED_FIELDS
            if old.get(f) != row.get(f)
        ]
        changes[row["account_id"]] = (
            (Change.CHANGED.value, details) if details else (Change.UNCHANGED.value, [])
        )
    seen = {r["account_id"] for r in current}
    removed = [
        {k: before[a].get(k) for k in ("account_id", "display_name", "privileges")}
        for a in sorted(before)
        if a not in seen
    ]
    counts = {c: sum(1 for v, _ in changes.values() if v == c) for c in ("new", "changed")}
    counts["unchanged"] = len(changes) - counts["new"] - counts["changed"]
    return changes, {**counts, "removed": removed}


def _previous(connection: Connection) -> Campaign | None:
    return (
        Campaign.objects.filter(connection=connection)
        .filter(status__in=(Campaign.Status.OPEN, Campaign.Status.COMPLETED))
        .order_by("-started_at", "-id")
        .first()
    )


# --- Start ---------------------------------------------------------------------------------


def campaign_start(
    *,
    connection: Connection,
    name: str,
    due_on: date,
    user: Any = None,
    reviewers: list[Any] | tuple[Any, ...] = (),
    recurrence: str = "",
    accounts: Collection[str] | None = None,
    scope: str = "",
    campaign: Campaign | None = None,
) -> Campaign:
    """Snapshot the connection's latest identity population and open a campaign on it.

    ``accounts`` (account ids) limits the campaign to part of the population, e.g. the
    accounts the leaver test matched to no active person; ``scope`` says which part (it is
    sealed in the snapshot document). ``campaign``: a campaign requested from a page
    (:func:`campaign_request`, status snapshotting) that this call completes and opens, in
    the snapshot job, instead of creating one.
    """
    item = population_evidence(connection=connection)
    errors: dict[str, str] = {}
    if item is None:
        errors["connection"] = "This connection has no evidence yet: run a collection first."
    if not (name or "").strip():
        errors["name"] = "Give the campaign a name."
    elif found := control_characters(name.strip()):
        errors["name"] = f"Use a single line of text (remove {', '.join(found)})."
    if due_on is None or due_on < timezone.now().date():
        errors["due_on"] = "The due date must be today or later."
    if recurrence not in Recurrence.values:
        errors["recurrence"] = "Unknown recurrence."
    if (
        Campaign.objects.filter(connection=connection, status__in=_BLOCKING)
        .exclude(pk=campaign.pk if campaign else None)
        .exists()
    ):
        errors["connection"] = "This source already has an open campaign; complete it first."
    rows = population_rows(item=item) if item is not None else []
    if accounts is not None:
        wanted = {str(a) for a in accounts}
        rows = [r for r in rows if r["account_id"] in wanted]
        if not rows and item is not None:
            errors["connection"] = "None of these accounts is in the latest collection."
    if errors:
        raise ReviewError(errors)
    now = timezone.now()
    document = {
        "kind": "access_review_snapshot",
        "source": {
            "connection_id": connection.pk,
            "connection": connection.name,
            "collector_key": connection.collector_key,
        },
        "population_evidence": {
            "seq": item.seq,
            "sha256": item.sha256,
            "chain_hash": item.chain_hash,
            "collected_at": item.collected_at,
        },
        "taken_at": now,
        **({"scope": scope or "selected accounts"} if accounts is not None else {}),
        "columns": list(IDENTITY_COLUMN_NAMES),
        "rows": rows,
    }
    data = canonical_bytes(document)
    sha256 = sha256_hex(data)
    # Content-addressed like artifacts; written before the transaction (an orphan at worst).
    try:
        path = artifact_store(data, sha256)
    except ArtifactStoreError as exc:
        raise ReviewError(f"The population snapshot could not be stored: {exc}.") from exc
    previous = _previous(connection)
    before = snapshot_rows(campaign=previous) if previous else None
    if before is not None and accounts is not None:  # compare the same subset only
        before = [r for r in before if r["account_id"] in wanted]
    changes, summary = diff_populations(before, rows)
    requested = campaign
    with transaction.atomic():
        fields = dict(
            name=name.strip(), connection=connection, collector_key=connection.collector_key,
            population_evidence=item, snapshot_sha256=sha256, snapshot_path=path,
            snapshot_count=len(rows), previous=previous,
            diff={**summary, "previous_campaign": previous.pk if previous else None},
            recurrence=recurrence, due_on=due_on, started_at=now, started_by=user,
        )  # fmt: skip
        if requested is None:
            campaign = Campaign.objects.create(**fields)
        else:
            updated = Campaign.objects.filter(
                pk=requested.pk, status=Campaign.Status.SNAPSHOTTING
            ).update(**fields, status=Campaign.Status.OPEN, snapshot_progress="", snapshot_error="")
            if not updated:
                raise ReviewError("The campaign is no longer waiting for its snapshot.")
            campaign = Campaign.objects.get(pk=requested.pk)
        campaign.reviewers.set(reviewers)
        ReviewEntry.objects.bulk_create([_entry(campaign, row, changes) for row in rows])
        _audit(user, "review.campaign_start" if requested is None else "review.snapshot_sealed",
               campaign, snapshot_sha256=sha256, accounts=len(rows))  # fmt: skip
        _review_tasks_sync(campaign)
    return campaign


#: Statuses that hold a connection: one campaign at a time per source.
_BLOCKING = (Campaign.Status.OPEN, Campaign.Status.SNAPSHOTTING)
#: The snapshot job (``pixaudit.reviews.jobs``), by dotted path: services never import jobs.
SNAPSHOT_JOB = "pixaudit.reviews.jobs.campaign_snapshot_run"


def campaign_request(
    *,
    connection: Connection,
    name: str,
    due_on: date,
    user: Any = None,
    reviewers: list[Any] | tuple[Any, ...] = (),
    recurrence: str = "",
) -> Campaign:
    """Start a campaign from a page: check what can be checked at once, record the campaign
    as *snapshotting* and queue the job that takes the snapshot (:func:`campaign_snapshot_take`).

    The page answers at once and shows the progress; decisions open when the snapshot is
    sealed. Raises :class:`ReviewError` for what the user must correct.
    """
    import django_rq

    errors: dict[str, str] = {}
    if population_evidence(connection=connection) is None:
        errors["connection"] = "This connection has no evidence yet: run a collection first."
    if not (name or "").strip():
        errors["name"] = "Give the campaign a name."
    elif found := control_characters(name.strip()):
        errors["name"] = f"Use a single line of text (remove {', '.join(found)})."
    if due_on is None or due_on < timezone.now().date():
        errors["due_on"] = "The due date must be today or later."
    if recurrence not in Recurrence.values:
        errors["recurrence"] = "Unknown recurrence."
    if Campaign.objects.filter(connection=connection, status__in=_BLOCKING).exists():
        errors["connection"] = "This source already has an open campaign; complete it first."
    if errors:
        raise ReviewError(errors)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name.strip(), connection=connection, collector_key=connection.collector_key,
            status=Campaign.Status.SNAPSHOTTING, recurrence=recurrence, due_on=due_on,
            started_at=timezone.now(), started_by=user,
            snapshot_progress="Waiting for a worker to take the snapshot",
        )  # fmt: skip
        campaign.reviewers.set(reviewers)
        _audit(user, "review.campaign_start", campaign, snapshot="queued")
        django_rq.get_queue("default").enqueue(SNAPSHOT_JOB, campaign.pk)
    return campaign


def campaign_snapshot_take(*, campaign_id: int) -> Campaign:
    """The snapshot job's body: snapshot, seal and diff the population of a campaign
    requested from a page, then open it; on failure record why, in words, and leave it
    failed (nothing to decide). A campaign no longer snapshotting is returned unchanged."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.SNAPSHOTTING:
        return campaign
    Campaign.objects.filter(pk=campaign_id).update(
        snapshot_progress="Reading the latest collection of the population"
    )
    try:
        return campaign_start(
            connection=campaign.connection, name=campaign.name, due_on=campaign.due_on,
            user=campaign.started_by, reviewers=list(campaign.reviewers.all()),
            recurrence=campaign.recurrence, campaign=campaign,
        )  # fmt: skip
    except ReviewError as exc:
        error = "The snapshot could not be taken: " + " ".join(exc.errors.values())
    except Exception as exc:
        logger.exception("campaign %s: snapshot failed", campaign_id)
        error = (
            "The snapshot could not be taken because of an internal error "
            f"({type(exc).__name__}: {str(exc)[:300]}). Start the campaign again; if it fails "
            "again, give this message to your administrator."
        )
    Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SNAPSHOTTING).update(
        status=Campaign.Status.SNAPSHOT_FAILED, snapshot_progress="", snapshot_error=error[:2000]
    )
    return Campaign.objects.get(pk=campaign_id)


def _entry(campaign: Campaign, row: dict[str, Any], changes) -> ReviewEntry:
    change, details = changes[row["account_id"]]
    last = row.get("last_activity_at")
    return ReviewEntry(
        campaign=campaign,
        account_id=row["account_id"],
        display_name=(row.get("display_name") or "")[:300],
        email=(row.get("email") or "")[:300],
        privileges=row.get("privileges") or [],
        is_privileged=row.get("is_privileged"),
        mfa_enabled=row.get("mfa_enabled"),
        last_activity_at=_parse_dt(last) if last else None,
        account_status=(row.get("status") or "")[:64],
        change=change,
        change_detail=details,
    )


def _parse_dt(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- Assign and decide ---------------------------------------------------------------------


def entry_can_decide(
    *, entry: ReviewEntry, user: Any, reviewer_ids: set[int] | None = None
) -> bool:
    """Managers decide anything; other internal users only what is assigned to them (the
    account's own reviewer, else the campaign's reviewers)."""
    if not getattr(user, "is_authenticated", False) or user.role not in INTERNAL:
        return False
    if user.role in MANAGERS:
        return True
    if entry.reviewer_id is not None:
        return entry.reviewer_id == user.pk
    if reviewer_ids is None:
        reviewer_ids = set(entry.campaign.reviewers.values_list("pk", flat=True))
    return user.pk in reviewer_ids


def entry_assign(*, entry: ReviewEntry, reviewer: Any, user: Any) -> ReviewEntry:
    if entry.campaign.status != Campaign.Status.OPEN:
        raise ReviewError("The campaign is closed.")
    with transaction.atomic():
        entry.reviewer = reviewer
        entry.save(update_fields=["reviewer"])
        _audit(user, "review.assign", entry, reviewer=reviewer.get_username() if reviewer else None)
        _review_tasks_sync(entry.campaign)
    return entry


def entries_decide(
    *, campaign: Campaign, decisions: Mapping[int, tuple[str, str]], user: Any
) -> int:
    """Record ``{entry id: (decision, note)}``; all or nothing. Returns how many changed.

    A note is required for anything but keep; only assigned reviewers (or managers) decide.
    """
    if campaign.status == Campaign.Status.SNAPSHOTTING:
        raise ReviewError("The population snapshot is still being taken; decide once it is sealed.")
    if campaign.status != Campaign.Status.OPEN:
        raise ReviewError("The campaign is closed; decisions can no longer change.")
    entries = {e.pk: e for e in campaign.entries.filter(pk__in=list(decisions))}
    reviewer_ids = set(campaign.reviewers.values_list("pk", flat=True))
    errors: dict[str, str] = {}
    changed: list[ReviewEntry] = []
    now = timezone.now()
    for pk, (decision, note) in decisions.items():
        entry = entries.get(pk)
        note = (note or "").strip()
        if entry is None:
            errors[str(pk)] = "No such account in this campaign."
        elif not decision:
            continue
        elif decision not in (Decision.KEEP, Decision.REVOKE, Decision.MODIFY):
            errors[str(pk)] = "Choose keep, revoke or modify."
        elif decision != Decision.KEEP and not note:
            errors[str(pk)] = f"{entry.display_name or entry.account_id}: a note is required " \
                f"to {decision}."  # fmt: skip
        elif not entry_can_decide(entry=entry, user=user, reviewer_ids=reviewer_ids):
            errors[str(pk)] = f"You are not a reviewer of {entry.display_name or entry.account_id}."
        elif (entry.decision, entry.note) != (decision, note):
            entry.decision, entry.note = decision, note
            entry.decided_by, entry.decided_at = user, now
            changed.append(entry)
    if errors:
        raise ReviewError(errors)
    with transaction.atomic():
        # Re-check under the campaign's row lock: the caller's instance may be stale, and
        # completion (which takes the same lock) must not miss or follow a decision.
        if not _lock_open(campaign):
            raise ReviewError("The campaign is closed; decisions can no longer change.")
        ReviewEntry.objects.bulk_update(changed, ["decision", "note", "decided_by", "decided_at"])
        for entry in changed:
            _audit(user, "review.decide", entry, decision=entry.decision, note=entry.note)
    return len(changed)


# --- Complete ------------------------------------------------------------------------------


def _lock_open(campaign: Campaign) -> bool:
    """Lock the campaign row (inside a transaction); True when it is still open."""
    return (
        Campaign.objects.select_for_update()
        .filter(pk=campaign.pk, status=Campaign.Status.OPEN)
        .exists()
    )


def _decisions_document(campaign: Campaign, entries: list[ReviewEntry], now) -> dict[str, Any]:
    return {
        "kind": "access_review",
        "campaign": {
            "id": campaign.pk,
            "name": campaign.name,
            "started_at": campaign.started_at,
            "due_on": campaign.due_on,
            "completed_at": now,
            "started_by": campaign.started_by.get_username() if campaign.started_by else None,
        },
        "source": {"connection": campaign.connection.name, "collector_key": campaign.collector_key},
        "snapshot": {
            "sha256": campaign.snapshot_sha256,
            "accounts": campaign.snapshot_count,
            "population_evidence_seq": campaign.population_evidence.seq,
        },
        "diff": campaign.diff,
        "decisions": [
            {
                "account_id": e.account_id,
                "display_name": e.display_name,
                "privileges": e.privileges,
                "is_privileged": e.is_privileged,
                "mfa_enabled": e.mfa_enabled,
                "change": e.change,
                "decision": e.decision,
                "note": e.note,
                "decided_by": e.decided_by.get_username() if e.decided_by else None,
                "decided_at": format_datetime(e.decided_at) if e.decided_at else None,
            }
            for e in entries
        ],
    }


def campaign_complete(*, campaign: Campaign, user: Any) -> EvidenceItem:
    """Close a fully decided campaign and append its evidence to the chain."""
    if campaign.status != Campaign.Status.OPEN:
        raise ReviewError("The campaign is not open.")
    entries = list(campaign.entries.select_related("decided_by").order_by("account_id"))
    pending = [e for e in entries if not e.decision]
    if pending:
        raise ReviewError(f"{len(pending)} account(s) still need a decision.")
    if not snapshot_verify(campaign=campaign):
        raise ReviewError("The sealed snapshot no longer matches its hash; investigate first.")
    review_mappings_ensure()
    now = timezone.now()
    source = campaign.connection.name
    late = now.date() > campaign.due_on
    counts = {d: sum(1 for e in entries if e.decision == d) for d in ("keep", "revoke", "modify")}
    summary = (
        f"Access review '{campaign.name}' of {len(entries)} account(s) completed "
        f"{'after' if late else 'by'} its due date {campaign.due_on}: {counts['keep']} kept, "
        f"{counts['revoke']} to revoke, {counts['modify']} to modify."
    )
    findings = [review_finding("completed", source, Status.WARN if late else Status.PASS, summary)]
    for e in entries:
        if e.decision in (Decision.REVOKE, Decision.MODIFY):
            findings.append(
                review_finding(
                    FOLLOWUP_ASSERTION[e.decision],
                    f"{source}/{e.account_id}",
                    Status.WARN,
                    f"{e.display_name or e.account_id}: {e.decision} decided; awaiting the next "
                    "collection to confirm it was applied.",
                )
            )
    next_due = _next_start(campaign) or add_months(now.date(), 12)
    # Until the next review is due: after that, the review evidence is stale.
    expires_at = now + timedelta(days=(next_due - now.date()).days + 1)

    decided = {e.pk: (e.decision, e.note) for e in entries}

    def _close(item: EvidenceItem) -> None:
        # Under the chain lock and the campaign's row lock: a second completion (double
        # submit) or a decision saved since the entries were read aborts this append.
        if not _lock_open(campaign):
            raise ReviewError("The campaign is not open.")
        current = campaign.entries.values_list("pk", "decision", "note")
        if {pk: (d, n) for pk, d, n in current} != decided:
            raise ReviewError("Decisions changed while completing; review them and retry.")
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.COMPLETED, completed_at=now, completed_by=user,
            completion_evidence=item,
        )  # fmt: skip
        FollowUp.objects.bulk_create(
            [
                FollowUp(entry=e, connection=campaign.connection)
                for e in entries
                if e.decision in (Decision.REVOKE, Decision.MODIFY)
            ]
        )
        _audit(user, "review.campaign_complete", campaign, evidence_seq=item.seq)

    try:
        item = evidence_append(
            collector_key=REVIEW_COLLECTOR_KEY,
            document=_decisions_document(campaign, entries, now),
            collected_at=now,
            effective_at=now,
            expires_at=expires_at,
            findings=findings,
            rows_count=len(entries),
            provenance={
                "campaign_id": campaign.pk,
                "completed_by": user.get_username() if user else None,
            },
            then=_close,
        )
    except (ArtifactStoreError, ArtifactTooLarge) as exc:
        # Nothing was appended and the campaign stays open: completing again later works.
        raise ReviewError(f"The review evidence was not stored: {exc}.") from exc
    campaign.refresh_from_db()
    return item


def campaign_cancel(*, campaign: Campaign, user: Any) -> Campaign:
    if campaign.status != Campaign.Status.OPEN:
        raise ReviewError("Only an open campaign can be cancelled.")
    campaign.status = Campaign.Status.CANCELLED
    campaign.save(update_fields=["status"])
    _audit(user, "review.campaign_cancel", campaign)
    return campaign


# --- Recurrence ----------------------------------------------------------------------------


def _next_start(campaign: Campaign) -> date | None:
    months = RECURRENCE_MONTHS.get(campaign.recurrence)
    return add_months(campaign.started_at.date(), months) if months else None


def campaigns_start_due(*, today: date | None = None) -> list[Campaign]:
    """Start the next campaign of every recurring source whose next start date has come."""
    today = today or timezone.now().date()
    started = []
    latest: dict[int, Campaign] = {}
    for campaign in Campaign.objects.exclude(status=Campaign.Status.CANCELLED).order_by(
        "started_at", "id"
    ):
        latest[campaign.connection_id] = campaign
    for campaign in latest.values():
        next_start = _next_start(campaign)
        if campaign.status != Campaign.Status.COMPLETED or not next_start or next_start > today:
            continue
        length = max((campaign.due_on - campaign.started_at.date()).days, 1)
        try:
            started.append(
                campaign_start(
                    connection=campaign.connection,
                    name=f"{campaign.connection.name} review {today:%Y-%m}",
                    due_on=today + timedelta(days=length),
                    reviewers=list(campaign.reviewers.all()),
                    recurrence=campaign.recurrence,
                )
            )
        except ReviewError:
            continue  # no evidence any more: the dashboard shows the source as overdue
    return started
