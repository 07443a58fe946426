"""The exceptions register: stretches during which an assertion failed for a resource.

``ExceptionRecord`` rows are derived data (from the append-only findings history, replayed in
chain order by ``pixaudit.exceptions.replay``) plus two things people add: a remediation
owner and a note. A rebuild recomputes the derived fields and keeps those, matching rows by
their natural key (the item that opened the stretch, the assertion and the resource).
``ExceptionAcceptance`` records a risk acceptance: requested with a reason and an expiry,
approved (or rejected) by a manager or admin who is not the requester, ended by its expiry
or a revocation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from pixaudit.evidence.models import Connection, EvidenceItem


class EndReason(models.TextChoices):
    PASSED = "passed", "Passed"
    WARNING = "warning", "No longer failing (needs review)"
    GONE = "gone", "Resource no longer reported"


class ExceptionRecord(models.Model):
    """One continuous stretch of FAIL for (assertion, resource, connection)."""

    assertion_id = models.CharField(max_length=200)
    resource = models.TextField()
    collector_key = models.CharField(max_length=100)
    # PROTECT: a connection with evidence cannot be removed anyway (evidence protects it).
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: The worst severity seen while the stretch lasted.
    severity = models.CharField(max_length=8)
    #: The message of the latest failing finding.
    message = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    start_evidence = models.ForeignKey(
        EvidenceItem, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    #: The latest item that still showed the failure.
    last_evidence = models.ForeignKey(
        EvidenceItem, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    #: The item that showed it no longer failing (null while open).
    end_evidence = models.ForeignKey(
        EvidenceItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )  # fmt: skip
    end_reason = models.CharField(max_length=8, choices=EndReason.choices, blank=True, default="")
    #: Chain positions (seq) of the start and end items, for pinned reports.
    start_seq = models.BigIntegerField()
    end_seq = models.BigIntegerField(null=True, blank=True)
    # Set by people (kept by rebuilds): an explicit remediation owner (default: the owner of
    # a mapped control) and a note.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    note = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["start_evidence", "assertion_id", "resource"],
                name="exceptions_record_natural_key",
            ),
            models.UniqueConstraint(
                fields=["assertion_id", "resource", "connection"],
                condition=Q(closed_at__isnull=True, connection__isnull=False),
                name="exceptions_record_one_open_conn",
            ),
            models.UniqueConstraint(
                fields=["assertion_id", "resource"],
                condition=Q(closed_at__isnull=True, connection__isnull=True),
                name="exceptions_record_one_open_noconn",
            ),
        ]
        indexes = [
            models.Index(
                fields=["connection", "collector_key", "closed_at"], name="exceptions_source_idx"
            ),  # fmt: skip
            models.Index(fields=["opened_at"], name="exceptions_opened_idx"),
            models.Index(fields=["assertion_id", "opened_at"], name="exceptions_assertion_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.assertion_id} on {self.resource} from {self.opened_at:%Y-%m-%d}"


class ReplayCursor(models.Model):
    """Singleton (pk=1): the chain position up to which exceptions are maintained."""

    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class AcceptanceStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


class ExceptionAcceptance(models.Model):
    """A risk acceptance of one exception: reason, requester, approver, expiry."""

    exception = models.ForeignKey(
        ExceptionRecord, on_delete=models.PROTECT, related_name="acceptances"
    )
    status = models.CharField(
        max_length=10, choices=AcceptanceStatus.choices, default=AcceptanceStatus.REQUESTED
    )
    reason = models.TextField()
    #: The last day the acceptance holds (inclusive, UTC).
    expires_on = models.DateField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    revoked_at = models.DateTimeField(null=True, blank=True)
    #: When the daily job recorded that the expiry passed (audit log: acceptance_expired).
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="exceptions_acceptance_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"acceptance of exception {self.exception_id} until {self.expires_on}"
