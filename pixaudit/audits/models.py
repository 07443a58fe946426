"""Audit engagements: the external auditors' window onto the evidence.

An engagement names its frameworks and the audit window (the Type II observation period,
whole UTC days, both ends inclusive). Auditors reach it only through an accepted, unrevoked,
unexpired ``AuditorInvitation``; that is checked on every request by the selectors. Evidence
requests keep their status history in ``EvidenceRequestEvent``; samples are immutable once
drawn (their seed and population hash make them reproducible). Both are append-only history
(``pixaudit.lib.append_only``: ORM refusal and PostgreSQL triggers; foreign keys into them
and from them to people are PROTECT, so deactivate users rather than delete them).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.models import EvidenceItem
from pixaudit.lib.append_only import AppendOnlyHistoryModel
from pixaudit.lib.single_line import validate_single_line


class Engagement(models.Model):
    # One line: the name goes into e-mail subjects, file names and report headers.
    name = models.CharField(max_length=200, validators=[validate_single_line])
    frameworks = models.ManyToManyField(Framework, related_name="engagements")
    window_start = models.DateField(help_text="First day of the observation period (UTC).")
    window_end = models.DateField(help_text="Last day of the observation period (UTC).")
    #: Share the data-subject request register's evidence (``privacy_requests``) with the
    #: engagement's auditors; off, it is left out of everything they see (issue 20).
    include_privacy_register = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_end", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_end__gte=models.F("window_start")),
                name="audits_engagement_window_order",
            )
        ]

    def __str__(self) -> str:
        return self.name


class InvitationEmail(models.TextChoices):
    """Where the invitation e-mail is (``""``: made before statuses were recorded)."""

    NOT_RECORDED = "", "Not recorded"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Not sent (invitation no longer pending)"


class AuditorInvitation(models.Model):
    """One auditor's access to one engagement, from invitation until ``expires_at``.

    Only the SHA-256 of the invitation token is stored; the token itself is in the e-mail.
    The e-mail is sent by a job (``audits.jobs``), which creates the token it mails: until
    an e-mail went out the stored hash matches no link. ``email_*`` record the outcome.
    """

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="auditor_invitations",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    email_status = models.CharField(
        max_length=16, choices=InvitationEmail.choices, blank=True, default=""
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.engagement}"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def status(self) -> str:
        if self.revoked:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active" if self.accepted_at else "pending"


class RequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    ACCEPTED = "accepted", "Accepted"
    NEEDS_MORE = "needs_more", "Needs more"


class EvidenceRequest(models.Model):
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="requests")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="+")
    description = models.TextField()
    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    evidence_items = models.ManyToManyField(EvidenceItem, blank=True, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"request #{self.pk} {self.control.ref}"


class EvidenceRequestEvent(AppendOnlyHistoryModel):
    """Status history of a request: each transition, who made it, and the note."""

    request = models.ForeignKey(EvidenceRequest, on_delete=models.PROTECT, related_name="events")
    status = models.CharField(max_length=16, choices=RequestStatus.choices)
    note = models.TextField(blank=True, default="")
    evidence_items = models.ManyToManyField(EvidenceItem, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"request #{self.request_id} → {self.status}"


class SampleKind(models.TextChoices):
    IDENTITY = "identity", "Accounts of an identity population"
    DAYS = "days", "Days of the audit window"


class Sample(AppendOnlyHistoryModel):
    """A reproducible random draw: ``random.Random(seed).sample(population, size)``.

    ``population_hash`` is the SHA-256 of the canonical JSON of the ordered population, so
    anyone can recompute the draw from the stored evidence and the seed.
    """

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="samples")
    kind = models.CharField(max_length=16, choices=SampleKind.choices)
    collector_key = models.CharField(max_length=100, blank=True, default="")
    evidence = models.ForeignKey(
        EvidenceItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: The control the sample tests (optional: samples drawn before controls were named).
    control = models.ForeignKey(
        Control, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    size = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    population_size = models.PositiveIntegerField()
    population_hash = models.CharField(max_length=64)
    items = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        source = self.collector_key or "window days"
        return f"sample #{self.pk}: {self.size} of {self.population_size} ({source})"


class SampleOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    EXCEPTION = "exception", "Exception"


class SampleResult(AppendOnlyHistoryModel):
    """The auditor's test result for one drawn item of a sample (``position``, 1-based in
    draw order). Append-only: a re-test adds a row, the newest per position is the result.

    An attached file went through the manual evidence checks (streamed size limit, sniffed
    type, OOXML checks) and is stored content-addressed under ``audits/samples/``; its
    SHA-256 is recorded here.
    """

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="results")
    position = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=SampleOutcome.choices)
    note = models.TextField(blank=True, default="")
    file_name = models.CharField(max_length=160, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    file_size = models.PositiveBigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, blank=True, default="")
    file_path = models.CharField(max_length=300, blank=True, default="")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sample_id", "position", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(outcome="exception") | ~models.Q(note=""),
                name="audits_sampleresult_exception_note",
            )
        ]

    def __str__(self) -> str:
        return f"sample #{self.sample_id} item {self.position}: {self.outcome}"

    @property
    def has_file(self) -> bool:
        return bool(self.file_path)
