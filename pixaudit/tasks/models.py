"""Work for people: one ``Task`` model for everything that needs someone to act.

A task is created by hand or by the product where it knows work is needed (a control turned
failing, an auditor's evidence request, pending access review decisions, manual evidence
about to expire, a commitment without evidence). ``source_key`` names that origin
(``control:12``, ``request:4``, ``review:3:7``, ``manual:9``, ``commitment:2``): at most one
unfinished task per source (a partial unique index), so the same state seen by many runs
makes one task, not one per run.

``ControlWatch`` and ``ConnectionWatch`` remember the last status seen, so a change (not a
run) is what creates tasks and notifications.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pixaudit.controls.models import Control


class TaskKind(models.TextChoices):
    REMEDIATION = "remediation", "Remediation"
    EVIDENCE_REQUEST = "evidence_request", "Evidence request"
    ACCESS_REVIEW = "access_review", "Access review decisions"
    MANUAL_EXPIRING = "manual_expiring", "Manual evidence expiring"
    COMMITMENT = "commitment", "Commitment without evidence"
    OTHER = "other", "Other"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    VERIFYING = "verifying", "Closed, awaiting the next collection"
    DONE = "done", "Done"


#: Statuses of unfinished work (an open source has at most one such task).
UNFINISHED = (TaskStatus.OPEN, TaskStatus.VERIFYING)


class Task(models.Model):
    kind = models.CharField(max_length=24, choices=TaskKind.choices, default=TaskKind.OTHER)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    due_on = models.DateField(null=True, blank=True)
    source_key = models.CharField(max_length=100, blank=True, default="")
    control = models.ForeignKey(
        Control, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    evidence_request = models.ForeignKey(
        "audits.EvidenceRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    campaign = models.ForeignKey(
        "reviews.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    manual_evidence = models.ForeignKey(
        "evidence.ManualEvidence",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    commitment = models.ForeignKey(
        "commitments.Commitment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["due_on", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["assignee", "status"], name="tasks_assignee_status_idx"),
            models.Index(fields=["status", "due_on"], name="tasks_status_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key"],
                condition=~Q(source_key="") & Q(status__in=["open", "verifying"]),
                name="tasks_one_unfinished_per_source",
            ),
        ]

    def __str__(self) -> str:
        return f"task #{self.pk} {self.title}"

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED

    def overdue(self, today=None) -> bool:
        """Unfinished and past its due date."""
        today = today or timezone.localdate()
        return self.status == TaskStatus.OPEN and self.due_on is not None and self.due_on < today


class TaskComment(models.Model):
    """A comment (``author`` empty: written by pixaudit itself, e.g. "reopened")."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    body = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class TaskAttachment(models.Model):
    """A validated upload (same checks as manual evidence), stored content-addressed."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="attachments")
    file_name = models.CharField(max_length=160)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=300)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]


class ControlWatch(models.Model):
    """The last posture status seen for a control (changes make tasks and events)."""

    control = models.OneToOneField(Control, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16)
    changed_at = models.DateTimeField(default=timezone.now)


class ConnectionWatch(models.Model):
    """The failed run last reported for a connection (one collection-error event each)."""

    connection = models.OneToOneField(
        "evidence.Connection", on_delete=models.CASCADE, related_name="+"
    )
    failed_run_id = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
