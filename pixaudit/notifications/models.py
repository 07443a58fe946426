"""Notifications: events (one per change), their deliveries, endpoints and preferences.

A ``Notification`` is one event with a unique ``key`` (``control:12:failing:<time>``), so the
same change seen twice is stored once and delivered once: no storms. Each channel a
notification goes to is a ``Delivery`` (an e-mail to a user, a Slack-compatible webhook, a
signed generic webhook), attempted by an RQ job and retried with backoff; deliveries are the
per-endpoint log. Webhook signing secrets are encrypted at rest like connection secrets
(``pixaudit.evidence.crypto``, bound to ``endpoint:<id>:secret``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class EndpointKind(models.TextChoices):
    SLACK = "slack", "Slack-compatible incoming webhook"
    WEBHOOK = "webhook", "Generic webhook (signed HMAC-SHA256)"


class Endpoint(models.Model):
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=EndpointKind.choices)
    url = models.URLField(max_length=500)
    secret = models.TextField(blank=True, default="", help_text="Encrypted signing secret.")
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    event = models.CharField(max_length=40)
    key = models.CharField(max_length=200, unique=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    link = models.CharField(max_length=500, blank=True, default="")
    payload = models.JSONField(default=dict)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RETRYING = "retrying", "Failed, will retry"
    SENT = "sent", "Delivered"
    FAILED = "failed", "Failed for good"


class Delivery(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=16)  # email, slack, webhook
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True, default="")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class Preference(models.Model):
    """What a user wants e-mailed at once, and whether they get the daily digest."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_pref"
    )
    email_events = models.JSONField(default=list)
    digest = models.BooleanField(default=True)


class DigestSent(models.Model):
    """One digest per user and day (a rerun of the command sends nothing new)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="notifications_digest_once")
        ]
