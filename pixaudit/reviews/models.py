"""Access review campaigns: a frozen, sealed population, decisions, follow-ups, reminders.

A campaign snapshots an identity population (the rows of a collector's latest evidence for
one connection) at start: the snapshot is canonical JSON, SHA-256 sealed and stored
content-addressed like artifacts; ``ReviewEntry`` rows are its accounts and only their
decision fields ever change. Completion appends evidence to the evidence chain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Recurrence(models.TextChoices):
    NONE = "", "Does not recur"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    YEARLY = "yearly", "Yearly"


class Campaign(models.Model):
    class Status(models.TextChoices):
        #: Started from a page: the population snapshot is being taken by a job.
        SNAPSHOTTING = "snapshotting", "Taking the snapshot"
        #: The snapshot job failed (``snapshot_error`` says why); nothing to decide.
        SNAPSHOT_FAILED = "snapshot_failed", "Snapshot failed"
        OPEN = "open", "Open"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    connection = models.ForeignKey(
        "evidence.Connection", on_delete=models.PROTECT, related_name="review_campaigns"
    )
    collector_key = models.CharField(max_length=100)
    # Empty until the snapshot is sealed (a campaign started from a page is snapshotting).
    population_evidence = models.ForeignKey(
        "evidence.EvidenceItem", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    snapshot_sha256 = models.CharField(max_length=64, blank=True, default="")
    snapshot_path = models.CharField(max_length=300, blank=True, default="")
    snapshot_count = models.PositiveIntegerField(default=0)
    snapshot_progress = models.CharField(max_length=200, blank=True, default="")
    snapshot_error = models.TextField(blank=True, default="")
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    diff = models.JSONField(default=dict, help_text="Counts and removed accounts vs previous.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    recurrence = models.CharField(max_length=16, choices=Recurrence.choices, blank=True, default="")
    due_on = models.DateField()
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    completion_evidence = models.ForeignKey(
        "evidence.EvidenceItem", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="review_campaigns"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["connection", "started_at"], name="reviews_camp_src_idx")]

    def __str__(self) -> str:
        return self.name


class Decision(models.TextChoices):
    PENDING = "", "Pending"
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
    MODIFY = "modify", "Modify"


class Change(models.TextChoices):
    NEW = "new", "New"
    CHANGED = "changed", "Changed"
    UNCHANGED = "unchanged", "Unchanged"
    FIRST = "first", "First review"


class ReviewEntry(models.Model):
    """One account of the frozen population and the decision about it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="entries")
    account_id = models.CharField(max_length=500)
    display_name = models.CharField(max_length=300, blank=True, default="")
    email = models.CharField(max_length=300, blank=True, default="")
    privileges = models.JSONField(default=list)
    is_privileged = models.BooleanField(null=True)
    mfa_enabled = models.BooleanField(null=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    account_status = models.CharField(max_length=64, blank=True, default="")
    change = models.CharField(max_length=16, choices=Change.choices, default=Change.FIRST)
    change_detail = models.JSONField(default=list, help_text="What changed since last time.")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="Per-account reviewer (overrides the campaign's).",
    )  # fmt: skip
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True, default="")
    note = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "account_id"], name="reviews_entry_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.account_id} ({self.decision or 'pending'})"


class FollowUp(models.Model):
    """A revoke (or modify) decision that a later collection of the source must confirm."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting next collection"
        NOT_APPLIED = "not_applied", "Access still present"
        APPLIED = "applied", "Applied"

    entry = models.OneToOneField(ReviewEntry, on_delete=models.CASCADE, related_name="followup")
    connection = models.ForeignKey(
        "evidence.Connection", on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    checked_at = models.DateTimeField(null=True, blank=True)
    checked_evidence = models.ForeignKey(
        "evidence.EvidenceItem", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="The collection that was checked.",
    )  # fmt: skip
    result_evidence = models.ForeignKey(
        "evidence.EvidenceItem", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="The chained evidence recording the check.",
    )  # fmt: skip
    message = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["connection", "status"], name="reviews_followup_idx")]

    def __str__(self) -> str:
        return f"follow-up of {self.entry_id}: {self.status}"


class ReminderSent(models.Model):
    """One reminder e-mail: the unique constraint makes sending idempotent per day."""

    kind = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    recipient = models.CharField(max_length=254)
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_id", "recipient", "day"], name="reviews_reminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id} -> {self.recipient} on {self.day}"
