"""Tasks and events the product creates by itself, one per change (never one per run).

- :func:`tasks_after_ingest` (a post-ingest hook): recomputes control posture and compares
  each control with its ``ControlWatch``. Turned failing: a ``control.failing`` event and a
  remediation task for the control's owner with the remediation text (or the closed task
  reopened). Recovered: a ``control.recovered`` event and the remediation task resolved.
  Excluded (risk accepted): the remediation task resolved with a comment naming each
  acceptance, its approver and its expiry; when an acceptance expires (or is revoked) while
  the control still fails, that task is reopened (the daily job checks, as does every
  collection).
  A task someone closed while the control still fails is reopened by the next collection
  that checks it. Turned stale: an ``evidence.stale`` event.
- :func:`collection_errors_watch` (every tick): a connection whose collection failed for good
  gives one ``collection.error`` event per failed run that made it fail.
- :func:`tasks_daily_sync` (daily job, ``manage.py tasks_sync``): pending access review
  decisions, manual evidence about to expire, commitments without evidence, overdue tasks,
  review campaigns due.
- :func:`request_task_open` / :func:`request_task_answered`: an auditor's evidence request.
- :func:`review_tasks_sync`: one access review's decision tasks, when it starts and when an
  entry is assigned (the daily sync does every open review).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import MANAGERS
from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.models import EvidenceItem, Finding, LatestResult
from pixaudit.notifications.services import notification_emit
from pixaudit.posture.ownership import control_owners
from pixaudit.posture.selectors import (
    ControlPosture,
    ControlStatus,
    assertion_catalog,
    framework_posture,
)
from pixaudit.tasks import services
from pixaudit.tasks.models import (
    UNFINISHED,
    ConnectionWatch,
    ControlWatch,
    Task,
    TaskKind,
    TaskStatus,
)

logger = logging.getLogger("pixaudit.tasks")

#: Days to fix a failing control, by its worst severity.
DUE_DAYS = {"critical": 3, "high": 7, "medium": 30, "low": 60, "info": 90}
#: Statuses that finish a remediation (the failing checks now pass or no longer apply).
RESOLVED = (ControlStatus.PASSING, ControlStatus.NOT_APPLICABLE)
EXPIRING_DAYS = 14


def _managers() -> list[User]:
    return list(User.objects.filter(is_active=True, role__in=MANAGERS))


def _unfinished(source_key: str) -> Task | None:
    return Task.objects.filter(source_key=source_key, status__in=UNFINISHED).first()


def _control_link(control: Control) -> str:
    return reverse("dashboard:control_detail", args=[control.framework.key, control.ref])


def _remediation_text(cp: ControlPosture) -> str:
    catalog = assertion_catalog()
    rows = LatestResult.objects.filter(assertion_id__in=cp.assertion_ids, status="fail").order_by(
        "assertion_id", "resource"
    )[:15]
    by_assertion: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_assertion[row.assertion_id].append(row.resource)
    parts = []
    for assertion_id, resources in by_assertion.items():
        info = catalog.get(assertion_id, {})
        parts.append(f"{info.get('title') or assertion_id} fails for: {', '.join(resources)}.")
        if info.get("remediation"):
            parts.append(f"How to fix: {info['remediation']}")
    return "\n".join(parts)


def _turned_failing(
    cp: ControlPosture, owner: User | None, users: list[User], now, previous: str = ""
) -> None:
    control = cp.control
    name = f"{control.framework.name} {control.ref} {control.title}"
    text = _remediation_text(cp)
    notification_emit(
        event="control.failing",
        key=f"control:{control.pk}:failing:{now.isoformat()}",
        subject=f"{control.ref} turned failing ({control.framework.name})",
        body=text,
        link=_control_link(control),
        users=users,
        payload={
            "control": control.address,
            "status": cp.status,
            "severity": cp.worst_severity,
            "failing_results": cp.failing_results,
        },
    )
    source = f"control:{control.pk}"
    task = Task.objects.filter(source_key=source).order_by("-id").first()
    if task is not None and task.status == TaskStatus.VERIFYING:
        services.task_reopen(task=task, reason="the control turned failing again.")
        return
    if task is not None and task.status == TaskStatus.OPEN:
        return
    if (
        task is not None
        and previous == ControlStatus.RISK_ACCEPTED
        and task.status == TaskStatus.DONE
        and _resolved_by_acceptance(task)
    ):
        _acceptance_ended(task, cp, now)
        return
    days = DUE_DAYS.get(cp.worst_severity or "medium", 30)
    services.task_create(
        title=f"Fix {control.ref}: {control.title}"[:300],
        description=text,
        kind=TaskKind.REMEDIATION,
        assignee=owner,
        due_on=now.date() + timedelta(days=days),
        source_key=source,
        control=control,
    )
    logger.info("remediation task for %s", name)


RISK_ACCEPTED_NOTE = "Risk accepted"


def _acceptances(cp: ControlPosture, now, *, in_force: bool) -> list[Any]:
    """Acceptances of the control's open exceptions: those in force at ``now`` (approved by
    then, not revoked, not expired), or else the latest one per exception no longer in force."""
    from pixaudit.exceptions.models import AcceptanceStatus, ExceptionAcceptance

    today = now.date()
    rows = ExceptionAcceptance.objects.filter(
        exception__assertion_id__in=sorted(cp.assertion_ids),
        exception__closed_at__isnull=True,
        status__in=[AcceptanceStatus.APPROVED, AcceptanceStatus.REVOKED],
        decided_at__lte=now,
    ).select_related("exception", "decided_by", "revoked_by")
    live = Q(revoked_at__isnull=True) | Q(revoked_at__gt=now)
    if in_force:
        return list(rows.filter(live, expires_on__gte=today).order_by("expires_on", "pk"))
    ended = rows.exclude(Q(expires_on__gte=today) & live).order_by("exception_id", "-expires_on")
    latest: dict[int, Any] = {}
    for row in ended:
        latest.setdefault(row.exception_id, row)
    return list(latest.values())


def _acceptance_text(row: Any) -> str:
    exception = row.exception
    approver = row.decided_by.get_username() if row.decided_by else "unknown"
    return (
        f"acceptance #{row.pk} of exception #{exception.pk} ({exception.resource}), approved "
        f"by {approver} on {row.decided_at:%Y-%m-%d}, expires {row.expires_on.isoformat()}"
    )


def _risk_accepted(cp: ControlPosture, now) -> None:
    """Failing -> excluded (risk accepted): the remediation task is resolved, naming each
    acceptance in force with its approver and expiry."""
    task = _unfinished(f"control:{cp.control.pk}")
    if task is None:
        return
    rows = _acceptances(cp, now, in_force=True)
    named = "; ".join(_acceptance_text(row) for row in rows) or "an acceptance in force"
    reason = (
        f"{RISK_ACCEPTED_NOTE}: every failing result of {cp.control.ref} is covered by a risk "
        f"acceptance ({named}). The control is excluded from monitoring until it expires."
    )
    services.task_resolve(task=task, reason=reason)


def _acceptance_ended(task: Task, cp: ControlPosture, now) -> None:
    """Excluded (risk accepted) -> failing: the task the acceptance resolved is reopened."""
    ended = []
    for row in _acceptances(cp, now, in_force=False):
        if row.revoked_at is not None and row.revoked_at <= now:
            by = row.revoked_by.get_username() if row.revoked_by else "unknown"
            ended.append(f"acceptance #{row.pk} was revoked by {by} on {row.revoked_at:%Y-%m-%d}")
        else:
            ended.append(f"acceptance #{row.pk} expired on {row.expires_on.isoformat()}")
    why = "; ".join(ended) or "the risk acceptance ended"
    services.task_reopen(
        task=task,
        reason=f"{why} and the control still fails ({cp.failing_results} failing result(s)).",
    )


def _resolved_by_acceptance(task: Task) -> bool:
    last = task.comments.order_by("-id").first()
    return last is not None and last.author_id is None and last.body.startswith(RISK_ACCEPTED_NOTE)


def _recovered(cp: ControlPosture, users: list[User], now, item: EvidenceItem | None) -> None:
    control = cp.control
    if cp.status == ControlStatus.PASSING:
        notification_emit(
            event="control.recovered",
            key=f"control:{control.pk}:recovered:{now.isoformat()}",
            subject=f"{control.ref} recovered ({control.framework.name})",
            body=f"{control.ref} {control.title} passes again.",
            link=_control_link(control),
            users=users,
            payload={"control": control.address, "status": cp.status},
        )
    task = _unfinished(f"control:{control.pk}")
    if task is not None:
        when = f" at {item.collected_at:%Y-%m-%d %H:%M} UTC" if item is not None else ""
        status = cp.status_label.lower()
        reason = f"Verified by the collection{when}: the control is now {status}."
        services.task_resolve(task=task, reason=reason)


def _verify_closed(cp: ControlPosture, item: EvidenceItem, checked: set[str]) -> bool:
    """A closed remediation task whose control still fails after a collection that re-checked
    it is reopened."""
    if not checked & set(cp.assertion_ids):
        return False
    task = _unfinished(f"control:{cp.control.pk}")
    if (
        task is not None
        and task.status == TaskStatus.VERIFYING
        and task.closed_at <= item.created_at
    ):
        services.task_reopen(
            task=task,
            reason=f"the collection at {item.collected_at:%Y-%m-%d %H:%M} UTC still finds "
            f"{cp.failing_results} failing result(s).",
        )
        return True
    return False


def control_changes_apply(*, item: EvidenceItem | None = None, now=None) -> dict[str, int]:
    """Compare every control's status with the last one seen; act on each change."""
    now = now or timezone.now()
    checked = (
        # Distinct in the database: a large item has one finding per resource.
        set(
            Finding.objects.filter(evidence=item)
            .order_by()
            .values_list("assertion_id", flat=True)
            .distinct()
        )
        if item is not None
        else set()
    )
    managers = _managers()
    counts = {"failing": 0, "recovered": 0, "reopened": 0, "accepted": 0}
    for framework in Framework.objects.order_by("key"):
        posture = framework_posture(framework=framework, now=now)
        if not posture.controls:
            continue
        owners = control_owners(framework=framework)
        with transaction.atomic():
            ids = [cp.control.pk for cp in posture.controls]
            existing = set(
                ControlWatch.objects.filter(control_id__in=ids).values_list("control_id", flat=True)
            )
            ControlWatch.objects.bulk_create(
                [ControlWatch(control_id=pk, status="") for pk in ids if pk not in existing],
                ignore_conflicts=True,
            )
            watches = {
                w.control_id: w
                for w in ControlWatch.objects.select_for_update().filter(control_id__in=ids)
            }
            for cp in posture.controls:
                watch = watches[cp.control.pk]
                previous, status = watch.status, cp.status
                owner = owners.get(cp.control.pk)
                users = [owner, *managers] if owner else managers
                if previous != status:
                    watch.status, watch.changed_at = status, now
                    watch.save(update_fields=["status", "changed_at"])
                if status == ControlStatus.FAILING and previous != status:
                    _turned_failing(cp, owner, users, now, previous)
                    counts["failing"] += 1
                elif previous == ControlStatus.FAILING and status == ControlStatus.RISK_ACCEPTED:
                    _risk_accepted(cp, now)
                    counts["accepted"] += 1
                elif previous == ControlStatus.FAILING and status in RESOLVED:
                    _recovered(cp, users, now, item)
                    counts["recovered"] += 1
                elif status == ControlStatus.FAILING and item is not None:
                    counts["reopened"] += _verify_closed(cp, item, checked)
                if status == ControlStatus.STALE and previous != status:
                    notification_emit(
                        event="evidence.stale",
                        key=f"control:{cp.control.pk}:stale:{now.isoformat()}",
                        subject=f"Evidence for {cp.control.ref} is stale "
                        f"({cp.control.framework.name})",
                        body="Its evidence expired: check the connection's schedule.",
                        link=_control_link(cp.control),
                        users=users,
                        payload={"control": cp.control.address},
                    )
    return counts


def tasks_after_ingest(*, item: EvidenceItem) -> None:
    """Post-ingest hook (``PIXAUDIT_POST_INGEST_HOOKS``)."""
    control_changes_apply(item=item)


# --- Collection errors --------------------------------------------------------------------


def collection_errors_watch() -> int:
    """One ``collection.error`` event per connection failure (none again until it recovers)."""
    from pixaudit.evidence.selectors_current import connections_failed, run_failure_message

    failed = connections_failed()
    emitted = 0
    watches = {w.connection_id: w for w in ConnectionWatch.objects.all()}
    people = None
    for conn_id, run in failed.items():
        watch = watches.get(conn_id)
        if watch is not None and watch.failed_run_id is not None:
            continue  # already reported; stays failed until a run succeeds
        if people is None:
            people = _managers() + list(User.objects.filter(is_active=True, role="engineer"))
        ConnectionWatch.objects.update_or_create(
            connection_id=conn_id, defaults={"failed_run_id": run.pk, "changed_at": timezone.now()}
        )
        note = notification_emit(
            event="collection.error",
            key=f"run:{run.pk}:error",
            subject=f"Collection failed: {run.connection.name}",
            body=run_failure_message(run),
            link=reverse("dashboard:run_detail", args=[run.pk]),
            users=people,
            payload={"connection": run.connection.name, "run": run.pk},
        )
        emitted += note is not None
    recovered = [c for c, w in watches.items() if w.failed_run_id is not None and c not in failed]
    ConnectionWatch.objects.filter(connection_id__in=recovered).update(failed_run_id=None)
    return emitted


# --- Evidence requests ------------------------------------------------------------------


def request_task_open(*, evidence_request: Any) -> Task:
    """An auditor's request: a task (a manager picks the assignee) and a notification."""
    control = evidence_request.control
    managers = _managers()
    task = services.task_create(
        title=f"Evidence request for {control.ref}: {evidence_request.description[:200]}",
        description=evidence_request.description,
        kind=TaskKind.EVIDENCE_REQUEST,
        source_key=f"request:{evidence_request.pk}",
        control=control,
        evidence_request=evidence_request,
    )
    notification_emit(
        event="request.opened",
        key=f"request:{evidence_request.pk}:opened",
        subject=f"Evidence request for {control.ref} ({evidence_request.engagement.name})",
        body=evidence_request.description,
        link=reverse("tasks:task_detail", args=[task.pk]),
        users=managers,
        payload={"request": evidence_request.pk, "control": control.address},
    )
    return task


def request_task_answered(*, evidence_request: Any, note: str) -> None:
    """The request was answered: its task is done and the auditor is told."""
    task = _unfinished(f"request:{evidence_request.pk}")
    if task is not None:
        services.task_resolve(task=task, reason="The request was answered.")
    engagement = evidence_request.engagement
    notification_emit(
        event="request.answered",
        key=f"request:{evidence_request.pk}:answered:{timezone.now().isoformat()}",
        subject=f"Your request for {evidence_request.control.ref} was answered ({engagement.name})",
        body=note,
        link=reverse("audits:request_detail", args=[engagement.pk, evidence_request.pk]),
        users=[evidence_request.requested_by],
        payload={"request": evidence_request.pk},
    )


def request_task_more(*, evidence_request: Any, note: str) -> None:
    """The auditor needs more: the request's task is open again."""
    task = Task.objects.filter(source_key=f"request:{evidence_request.pk}").order_by("-id").first()
    if task is not None and task.status == TaskStatus.DONE:
        services.task_reopen(task=task, reason=f"the auditor asked for more: {note}")


# --- Daily sync -------------------------------------------------------------------------


def _review_pending(campaign: Any) -> tuple[dict[int, int], dict[int, User]]:
    """(pending decisions per reviewer id, those users) of one open campaign (three queries)."""
    pending: dict[int, int] = defaultdict(int)
    everyone = list(campaign.reviewers.values_list("pk", flat=True))
    rows = campaign.entries.filter(decision="").values_list("reviewer_id", flat=True)
    for reviewer_id in rows:
        # An entry without its own reviewer may be decided by any campaign reviewer.
        for user_id in [reviewer_id] if reviewer_id else everyone:
            pending[user_id] += 1
    return pending, User.objects.in_bulk(list(pending))


def _review_tasks_make(campaign: Any, pending: dict[int, int], users: dict[int, User]):
    """Create the missing decision tasks of ``campaign``; ``(made, source keys wanted)``."""
    made = 0
    wanted: set[str] = set()
    for user_id, count in pending.items():
        key = f"review:{campaign.pk}:{user_id}"
        wanted.add(key)
        if _unfinished(key) is None and users[user_id].is_active:
            services.task_create(
                title=f"Decide {count} account(s) in access review {campaign.name}",
                description="Keep, revoke or modify each account assigned to you.",
                kind=TaskKind.ACCESS_REVIEW,
                assignee=users[user_id],
                due_on=campaign.due_on,
                source_key=key,
                campaign=campaign,
            )
            made += 1
    return made, wanted


def _review_tasks_resolve(tasks, wanted: set[str]) -> None:
    for task in tasks.filter(kind=TaskKind.ACCESS_REVIEW, status__in=UNFINISHED):
        if task.source_key not in wanted:
            services.task_resolve(
                task=task, reason="Every decision was made (or the review ended)."
            )


def review_tasks_sync(*, campaign: Any) -> int:
    """Bring the decision tasks of one access review up to date at once (returns how many
    were created): called by ``reviews.services`` when a campaign starts and when an entry
    is (re)assigned, so reviewers see their work without waiting for the daily sync.

    A task per reviewer with pending decisions of the open ``campaign``; a reviewer left
    with none (every entry reassigned) has the task resolved. Only this campaign's rows are
    read (a handful of queries); :func:`tasks_daily_sync` does the same for every campaign.
    """
    from pixaudit.reviews.models import Campaign

    made, wanted = 0, set()
    if campaign.status == Campaign.Status.OPEN:
        made, wanted = _review_tasks_make(campaign, *_review_pending(campaign))
    _review_tasks_resolve(Task.objects.filter(source_key__startswith=f"review:{campaign.pk}:"),
                          wanted)  # fmt: skip
    return made


def _sync_reviews(today: date) -> int:
    from pixaudit.reviews.models import Campaign

    made = 0
    wanted: set[str] = set()
    for campaign in Campaign.objects.filter(status=Campaign.Status.OPEN):
        pending, users = _review_pending(campaign)
        count, keys = _review_tasks_make(campaign, pending, users)
        made += count
        wanted |= keys
        if campaign.due_on <= today + timedelta(days=3):
            notification_emit(
                event="review.due",
                key=f"campaign:{campaign.pk}:due:{campaign.due_on}",
                subject=f"Access review {campaign.name} is due {campaign.due_on.isoformat()}",
                body=f"{sum(pending.values())} decision(s) still pending.",
                link=reverse("reviews:campaign_detail", args=[campaign.pk]),
                users=[*users.values(), *_managers()],
                payload={"campaign": campaign.pk, "pending": sum(pending.values())},
            )
    _review_tasks_resolve(Task.objects.all(), wanted)
    return made


def _sync_manual(today: date) -> int:
    from pixaudit.evidence.selectors_manual import manual_evidence_expiring

    made = 0
    expiring = manual_evidence_expiring(within_days=EXPIRING_DAYS, today=today)
    wanted = set()
    managers = _managers()
    for item in expiring:
        key = f"manual:{item.pk}"
        wanted.add(key)
        expired = item.valid_until < today
        event = "evidence.stale" if expired else "evidence.expiring"
        verb = "expired" if expired else "expires"
        notification_emit(
            event=event,
            key=f"manual:{item.pk}:{event}",
            subject=f"Manual evidence {item.title} {verb} {item.valid_until.isoformat()}",
            body=f"Upload a current version for {', '.join(item.control_addresses)}.",
            link=reverse("manualevidence:detail", args=[item.pk]),
            users=[item.owner, *managers],
            payload={"manual_evidence": item.pk, "valid_until": str(item.valid_until)},
        )
        if _unfinished(key) is None:
            owner = item.owner if item.owner and item.owner.role != "auditor" else None
            services.task_create(
                title=f"Renew manual evidence: {item.title}"[:300],
                description=f"It {verb} on {item.valid_until.isoformat()}; it supports "
                f"{', '.join(item.control_addresses)}.",
                kind=TaskKind.MANUAL_EXPIRING,
                assignee=owner if owner and owner.is_active else None,
                due_on=item.valid_until,
                source_key=key,
                manual_evidence=item,
            )
            made += 1
    for task in Task.objects.filter(kind=TaskKind.MANUAL_EXPIRING, status__in=UNFINISHED):
        if task.source_key not in wanted:
            services.task_resolve(task=task, reason="A newer upload replaces this evidence.")
    return made


def _sync_commitments() -> int:
    from pixaudit.commitments.selectors import commitment_states

    made = 0
    wanted = set()
    for state in commitment_states():
        if state.status not in ("no_evidence", "manual_pending"):
            continue
        commitment = state.commitment
        key = f"commitment:{commitment.pk}"
        wanted.add(key)
        if _unfinished(key) is None:
            services.task_create(
                title=f"Provide evidence for the commitment: {commitment.title}"[:300],
                description=f"Status: {state.label}. Connect a source for its checks or upload "
                "the manual evidence it requires.",
                kind=TaskKind.COMMITMENT,
                source_key=key,
                commitment=commitment,
            )
            made += 1
    for task in Task.objects.filter(kind=TaskKind.COMMITMENT, status__in=UNFINISHED):
        if task.source_key not in wanted:
            services.task_resolve(task=task, reason="The commitment has evidence now.")
    return made


def _overdue(today: date) -> int:
    sent = 0
    for task in Task.objects.filter(status=TaskStatus.OPEN, due_on__lt=today).select_related(
        "assignee"
    ):
        users = [task.assignee] if task.assignee else _managers()
        note = notification_emit(
            event="task.overdue",
            key=f"task:{task.pk}:overdue:{task.due_on}",
            subject=f"Overdue since {task.due_on.isoformat()}: {task.title}",
            body=task.description[:1000],
            link=reverse("tasks:task_detail", args=[task.pk]),
            users=users,
            payload={"task": task.pk, "due_on": str(task.due_on)},
        )
        sent += note is not None
    return sent


def tasks_daily_sync(*, today: date | None = None) -> dict[str, int]:
    """Bring product-made tasks up to date and send the day's due and overdue events."""
    today = today or timezone.now().date()
    return {
        "review_tasks": _sync_reviews(today),
        "manual_tasks": _sync_manual(today),
        "commitment_tasks": _sync_commitments(),
        "overdue": _overdue(today),
    }
