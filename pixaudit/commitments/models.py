"""Commitments: the published policy's verifiable statements, each tied to its proof.

A commitment names the assertions (automated checks) and the controls (for manual evidence)
that back it; its status is derived live (``selectors``), never stored. ``TrustPage`` is the
opt-in switch of the public trust page (off by default).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Commitment(models.Model):
    key = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    statement = models.TextField(help_text="The policy's words.")
    section = models.CharField(max_length=100, blank=True, default="")
    assertion_ids = models.JSONField(default=list, blank=True)
    control_addresses = models.JSONField(default=list, blank=True)
    requires_manual = models.BooleanField(
        default=False, help_text="Needs a current manual upload for one of its controls."
    )
    manual_kinds = models.JSONField(
        default=list, blank=True,
        help_text="Kinds of manual evidence that count (empty: any kind for its controls).",
    )  # fmt: skip
    covers = models.JSONField(
        default=list, blank=True, help_text="Other lines of the policy this commitment backs."
    )
    public = models.BooleanField(default=True, help_text="Listed on the public trust page.")
    sort_order = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "key"]

    def __str__(self) -> str:
        return self.title


class TrustPage(models.Model):
    """Singleton (pk=1): is the public trust page published?"""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    def __str__(self) -> str:
        return f"trust page {'on' if self.enabled else 'off'}"
