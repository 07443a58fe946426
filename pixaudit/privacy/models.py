"""The register of data-subject requests (GDPR rights: access, erasure, ...).

Personal data is minimal: a request is named by a short external reference (the ticket of
the helpdesk or the privacy mailbox), never by the data subject's name, e-mail or the
request's content. The deadline is fixed when the request is recorded (``due_days`` from
``PIXAUDIT_DSR_DUE_DAYS``), so changing the setting later does not move old deadlines.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

DEFAULT_DUE_DAYS = 30


def due_days_setting() -> int:
    """Days to answer a request (``PIXAUDIT_DSR_DUE_DAYS``, default 30)."""
    return int(getattr(settings, "PIXAUDIT_DSR_DUE_DAYS", DEFAULT_DUE_DAYS))


class DataSubjectRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", "Access"
        RECTIFICATION = "rectification", "Rectification"
        ERASURE = "erasure", "Erasure"
        PORTABILITY = "portability", "Portability"
        OBJECTION = "objection", "Objection"
        RESTRICTION = "restriction", "Restriction"

    reference = models.CharField(
        max_length=64, unique=True,
        help_text="Short external reference (ticket number), never the request's content.",
    )  # fmt: skip
    kind = models.CharField(max_length=16, choices=Kind.choices)
    received_on = models.DateField()
    identity_verified_on = models.DateField(null=True, blank=True)
    due_days = models.PositiveIntegerField()
    due_on = models.DateField()
    completed_on = models.DateField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    evidence_file_name = models.CharField(max_length=200, blank=True, default="")
    evidence_file_path = models.CharField(max_length=300, blank=True, default="")
    evidence_sha256 = models.CharField(max_length=64, blank=True, default="")
    evidence_content_type = models.CharField(max_length=100, blank=True, default="")
    evidence_size = models.PositiveBigIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.reference} ({self.kind})"

    def status_on(self, today) -> str:
        """``completed``, ``overdue`` (open past due_on on ``today``) or ``open``."""
        if self.completed_on:
            return "completed"
        return "overdue" if today > self.due_on else "open"

    @property
    def days_to_complete(self) -> int | None:
        if not self.completed_on:
            return None
        return (self.completed_on - self.received_on).days
