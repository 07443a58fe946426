"""Task services: create, assign, close, reopen, comment (with @mentions), attach.

Every change is audit-logged (``task.*``). People are told through
``pixaudit.notifications`` (assigned, mentioned). Closing a remediation task does not finish
it: it waits for the next collection (``automation``), which resolves it when the control
passes and reopens it when the finding still fails.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import MANAGERS
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.manual import UploadRejected, inspect_upload, spool_limited
from pixaudit.evidence.storage import ArtifactStoreError, file_save_atomic
from pixaudit.notifications.services import notification_emit
from pixaudit.posture.ownership import OWNER_ROLES
from pixaudit.tasks.models import Task, TaskAttachment, TaskComment, TaskKind, TaskStatus

MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_.+-]*[A-Za-z0-9_+-])")


def _assignee_check(assignee: User | None) -> None:
    if assignee is not None and (not assignee.is_active or assignee.role not in OWNER_ROLES):
        raise ValidationError({"assignee": "Choose an active internal user (not an auditor)."})


def _notify_assigned(task: Task, actor: Any) -> None:
    if task.assignee is None or task.assignee == actor:
        return
    due = f" Due {task.due_on.isoformat()}." if task.due_on else ""
    notification_emit(
        event="task.assigned",
        key=f"task:{task.pk}:assigned:{task.assignee_id}:{timezone.now().isoformat()}",
        subject=f"Assigned to you: {task.title}",
        body=f"{task.get_kind_display()}.{due}\n\n{task.description}".strip(),
        link=reverse("tasks:task_detail", args=[task.pk]),
        users=[task.assignee],
        payload={"task": task.pk, "kind": task.kind, "due_on": str(task.due_on or "")},
    )


@transaction.atomic
def task_create(
    *,
    title: str,
    description: str = "",
    kind: str = TaskKind.OTHER,
    assignee: User | None = None,
    due_on: date | None = None,
    actor: Any = None,
    request: Any = None,
    source_key: str = "",
    **links: Any,
) -> Task:
    """Create a task (``actor`` None: created by pixaudit). ``links``: control,
    evidence_request, campaign, manual_evidence, commitment."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "Give the task a title."})
    if kind not in TaskKind.values:
        raise ValidationError({"kind": "Unknown kind of task."})
    _assignee_check(assignee)
    task = Task.objects.create(
        kind=kind,
        title=title[:300],
        description=(description or "").strip(),
        assignee=assignee,
        due_on=due_on,
        created_by=actor,
        source_key=source_key,
        **links,
    )
    audit_log_record(
        action="task.created",
        obj=task,
        actor=actor,
        request=request,
        kind=kind,
        assignee=assignee.get_username() if assignee else None,
        due_on=due_on,
        source=source_key or None,
    )
    _notify_assigned(task, actor)
    return task


@transaction.atomic
def task_assign(
    *, task: Task, assignee: User | None, due_on: date | None, actor: Any, request: Any = None
) -> Task:
    """Set who does it and by when (a new assignee is notified)."""
    _assignee_check(assignee)
    if not task.unfinished:
        raise ValidationError("This task is done; reopen it first.")
    previous = task.assignee
    task.assignee, task.due_on, task.updated_at = assignee, due_on, timezone.now()
    task.save(update_fields=["assignee", "due_on", "updated_at"])
    audit_log_record(
        action="task.assigned",
        obj=task,
        actor=actor,
        request=request,
        assignee=assignee.get_username() if assignee else None,
        previous=previous.get_username() if previous else None,
        due_on=due_on,
    )
    if assignee != previous:
        _notify_assigned(task, actor)
    return task


def can_close(task: Task, user: Any) -> bool:
    """The assignee, whoever created it, and managers may close a task."""
    return user.role in MANAGERS or user.pk in (task.assignee_id, task.created_by_id)


@transaction.atomic
def task_close(*, task: Task, actor: Any, request: Any = None, note: str = "") -> Task:
    """Close a task. A remediation task waits for the next collection to confirm it."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if not can_close(task, actor):
        raise ValidationError("Only the assignee, its author or a compliance manager can close it.")
    if task.status != TaskStatus.OPEN:
        raise ValidationError("This task is not open.")
    now = timezone.now()
    verifying = task.kind == TaskKind.REMEDIATION and task.control_id is not None
    task.status = TaskStatus.VERIFYING if verifying else TaskStatus.DONE
    task.closed_at, task.closed_by, task.updated_at = now, actor, now
    task.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
    if note.strip():
        _comment(task, actor, note)
    if verifying:
        _comment(
            task,
            None,
            "Closed; the next collection verifies the fix and reopens this "
            "task if the control still fails.",
        )
    audit_log_record(
        action="task.closed", obj=task, actor=actor, request=request, status=task.status
    )
    return task


@transaction.atomic
def task_reopen(*, task: Task, reason: str, actor: Any = None, request: Any = None) -> Task:
    """Reopen (by a person, or by pixaudit when the next collection still fails)."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status == TaskStatus.OPEN:
        return task
    if (
        task.source_key
        and Task.objects.filter(
            source_key=task.source_key, status__in=(TaskStatus.OPEN, TaskStatus.VERIFYING)
        )
        .exclude(pk=task.pk)
        .exists()
    ):
        raise ValidationError("Another open task tracks the same thing.")
    task.status, task.closed_at, task.closed_by = TaskStatus.OPEN, None, None
    task.updated_at = timezone.now()
    task.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
    _comment(task, actor, f"Reopened: {reason}" if actor is None else reason)
    audit_log_record(
        action="task.reopened", obj=task, actor=actor, request=request, reason=reason[:500]
    )
    return task


@transaction.atomic
def task_resolve(*, task: Task, reason: str) -> Task:
    """Finish a task because the product saw the work done (no person involved)."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if not task.unfinished:
        return task
    now = timezone.now()
    task.status, task.updated_at = TaskStatus.DONE, now
    task.closed_at = task.closed_at or now
    task.save(update_fields=["status", "closed_at", "updated_at"])
    _comment(task, None, reason)
    audit_log_record(action="task.resolved", obj=task, reason=reason[:500])
    return task


def _comment(task: Task, author: Any, body: str) -> TaskComment:
    return TaskComment.objects.create(task=task, author=author, body=body.strip())


def mentioned_users(body: str) -> list[User]:
    """Active internal users named as ``@username`` in ``body``."""
    names = {m.rstrip(".") for m in MENTION_RE.findall(body or "")}
    if not names:
        return []
    return list(User.objects.filter(username__in=names, is_active=True, role__in=OWNER_ROLES))


@transaction.atomic
def task_comment_add(*, task: Task, author: Any, body: str, request: Any = None) -> TaskComment:
    """Add a comment; everyone it ``@mentions`` is notified."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write something."})
    if len(body) > 10_000:
        raise ValidationError({"body": "Keep comments under 10,000 characters."})
    comment = _comment(task, author, body)
    mentioned = mentioned_users(body)
    comment.mentions.set(mentioned)
    task.updated_at = timezone.now()
    task.save(update_fields=["updated_at"])
    audit_log_record(
        action="task.commented",
        obj=task,
        actor=author,
        request=request,
        mentions=sorted(u.get_username() for u in mentioned),
    )
    others = [u for u in mentioned if u != author]
    if others:
        notification_emit(
            event="task.mentioned",
            key=f"comment:{comment.pk}:mentions",
            subject=f"{author.get_username()} mentioned you on: {task.title}",
            body=body[:2000],
            link=reverse("tasks:task_detail", args=[task.pk]),
            users=others,
            payload={"task": task.pk, "comment": comment.pk},
        )
    return comment


def _chunks(upload: Any):
    yield from (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b"")
    )


def task_attachment_add(
    *, task: Task, upload: Any, file_name: str, actor: Any, request: Any = None
) -> TaskAttachment:
    """Validate an upload like manual evidence (size, sniffed type, safe archives), store it."""
    if upload is None:
        raise ValidationError({"file": "Choose a file."})
    try:
        spool, size, sha256 = spool_limited(_chunks(upload))
    except UploadRejected as exc:
        raise ValidationError({"file": str(exc)}) from None
    with spool:
        try:
            check = inspect_upload(spool, name=file_name, size=size, sha256=sha256)
        except UploadRejected as exc:
            raise ValidationError({"file": str(exc)}) from None
        path = f"tasks/attachments/{sha256[:2]}/{sha256}.{check.extension}"
        try:
            path = file_save_atomic(path, spool.read())
        except ArtifactStoreError as exc:
            raise ValidationError({"file": f"The file was not stored: {exc}."}) from exc
    with transaction.atomic():
        attachment = TaskAttachment.objects.create(
            task=task,
            file_name=check.file_name,
            content_type=check.content_type,
            size=size,
            sha256=sha256,
            path=path,
            uploaded_by=actor,
        )
        audit_log_record(
            action="task.attachment_added",
            obj=task,
            actor=actor,
            request=request,
            file_name=check.file_name,
            sha256=sha256,
            size=size,
        )
    return attachment


def internal_users() -> list[User]:
    """Who may be assigned work."""
    return list(User.objects.filter(is_active=True, role__in=OWNER_ROLES).order_by("username"))
