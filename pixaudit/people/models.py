"""The mapping table the manager edits: account declarations and person aliases.

Evidence (HR people, accounts) stays in the evidence chain; these rows only say how to read
it: an account belongs to a person (when its e-mail does not say so), or is a service account
with an owner; an alias (another e-mail or a login) stands for an employee id.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccountDeclaration(models.Model):
    """An account (by its finding resource) declared a person's, or a service account."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person's account"
        SERVICE = "service", "Service account"

    resource = models.CharField(max_length=500, unique=True, help_text="The account's resource.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    employee_id = models.CharField(
        max_length=100, blank=True, default="",
        help_text="The person (or the service account's owner) by HR employee id.",
    )  # fmt: skip
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["resource"]

    def __str__(self) -> str:
        return f"{self.resource} ({self.kind})"


class PersonAlias(models.Model):
    """Another e-mail address or login of an employee (lower case)."""

    alias = models.CharField(max_length=300, unique=True)
    employee_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["alias"]

    def __str__(self) -> str:
        return f"{self.alias} -> {self.employee_id}"
