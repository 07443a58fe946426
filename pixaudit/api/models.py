"""API tokens: only a SHA-256 of each token is stored; the token is shown once."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TokenKind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    SERVICE = "service", "Service (CI, scanners)"


class Scope(models.TextChoices):
    READ = "read", "read: everything your role can see"
    WRITE_EVIDENCE = "write:evidence", "write:evidence: push and upload evidence, answer requests"
    WRITE_RUNS = "write:runs", "write:runs: start collection runs"
    WRITE_REPORTS = (
        "write:reports",
        "write:reports: request report renders and evidence pack builds (admins, managers)",
    )
    ADMIN = "admin", "admin: the audit log (admins only)"


class ApiToken(models.Model):
    """A bearer token acting for ``user`` within ``scopes`` until ``expires_at``.

    The token itself (``pxa_<prefix>_<secret>``) is never stored: ``token_hash`` is the
    SHA-256 of the whole string (256 bits of randomness, so a plain hash is enough and a
    lookup is one indexed query). ``prefix`` identifies the token in lists and the audit log.
    A token with a ``push_connection`` may only push evidence, and only to that connection.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=TokenKind.choices, default=TokenKind.PERSONAL)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set: the token only pushes, to this push connection (removing the connection removes
    # the token rather than widening it).
    push_connection = models.ForeignKey(
        "evidence.Connection", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"API token {self.name} (pxa_{self.prefix}…)"

    @property
    def label(self) -> str:
        """How the token appears in the audit log."""
        return f"{self.kind} token {self.name!r} (pxa_{self.prefix})"
