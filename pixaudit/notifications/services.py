"""Emit events, deliver them (e-mail, Slack-compatible and signed webhooks), manage endpoints.

Layering: ``jobs`` imports this module, never the reverse; deliveries are enqueued by the
job's dotted path (:data:`DELIVER_JOB`) on queue ``default``, after the transaction commits
(django-rq's commit mode), in-process in the embedded default.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import django_rq
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from collectors.destinations import credential_transport_problem
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence import crypto
from pixaudit.lib.embedded_worker import embedded_worker_running
from pixaudit.lib.single_line import header_text
from pixaudit.notifications.events import DEFAULT_EMAIL_EVENTS, EVENTS
from pixaudit.notifications.models import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointKind,
    Notification,
    Preference,
)
from pixaudit.notifications.signing import signature_headers

logger = logging.getLogger("pixaudit.notifications")

DELIVER_JOB = "pixaudit.notifications.jobs.notification_deliver"
#: A retry scheduled for its due time on the embedded worker (no tick there), by path.
RETRY_JOB = "pixaudit.notifications.jobs.notification_retry"
#: Seconds before attempt 2, 3, ... of a failed delivery (the last value repeats).
DEFAULT_BACKOFF = [30, 120, 600, 3600]
DEFAULT_MAX_ATTEMPTS = 5
TIMEOUT = (5, 10)


def backoff_seconds(attempt: int) -> int:
    """Wait after failed attempt number ``attempt`` (1-based)."""
    steps = getattr(settings, "PIXAUDIT_NOTIFY_BACKOFF_SECONDS", DEFAULT_BACKOFF) or [60]
    return int(steps[min(attempt, len(steps)) - 1])


def max_attempts() -> int:
    return int(getattr(settings, "PIXAUDIT_NOTIFY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def absolute_link(path: str) -> str:
    """A page path as a full URL (``PIXAUDIT_BASE_URL``)."""
    if not path or "://" in path:
        return path
    return settings.PIXAUDIT_BASE_URL.rstrip("/") + path


# --- Preferences ----------------------------------------------------------------------------


def preference_get(user: Any) -> Preference:
    """The user's preferences (defaults when never saved; not stored by this call)."""
    pref = Preference.objects.filter(user=user).first()
    return pref or Preference(user=user, email_events=list(DEFAULT_EMAIL_EVENTS), digest=True)


def preference_set(
    *, user: Any, email_events: Sequence[str], digest: bool, request: Any = None
) -> Preference:
    """Save which events ``user`` gets by e-mail at once, and the daily digest switch."""
    unknown = sorted(set(email_events) - set(EVENTS))
    if unknown:
        raise ValidationError({"email_events": f"Unknown events: {', '.join(unknown)}."})
    pref, _ = Preference.objects.get_or_create(user=user)
    pref.email_events = sorted(set(email_events))
    pref.digest = bool(digest)
    pref.save()
    audit_log_record(
        action="notifications.preferences_set",
        obj=user,
        actor=user,
        request=request,
        email_events=pref.email_events,
        digest=pref.digest,
    )
    return pref


# --- Emitting -------------------------------------------------------------------------------


def notification_emit(
    *,
    event: str,
    key: str,
    subject: str,
    body: str = "",
    link: str = "",
    payload: dict[str, Any] | None = None,
    users: Iterable[Any] = (),
    endpoints: Iterable[Endpoint] | None = None,
) -> Notification | None:
    """Record one event and queue its deliveries; ``None`` when ``key`` was emitted before.

    ``users`` are the people it concerns (e-mailed now if their preferences say so, else
    in their digest). Enabled endpoints subscribed to ``event`` get it too (or exactly
    ``endpoints`` when given, for a test message).
    """
    if event not in EVENTS and not event.startswith("test"):
        raise ValueError(f"unknown event {event!r}")
    try:
        with transaction.atomic():
            note = Notification.objects.create(
                event=event,
                key=key[:200],
                subject=header_text(subject, 300),
                body=body,
                link=link,
                payload=payload or {},
            )
    except IntegrityError:
        return None  # the same change was already notified: no storm
    people = {u.pk: u for u in users if u is not None and u.is_active}
    note.recipients.set(people.values())
    deliveries = []
    prefs = {p.user_id: p for p in Preference.objects.filter(user_id__in=people)}
    for user in people.values():
        pref = prefs.get(user.pk) or preference_get(user)
        if user.email and event in pref.email_events:
            deliveries.append(Delivery(notification=note, channel="email", user=user))
    if endpoints is None:
        endpoints = [e for e in Endpoint.objects.filter(enabled=True) if event in e.events]
    for endpoint in endpoints:
        deliveries.append(Delivery(notification=note, channel=endpoint.kind, endpoint=endpoint))
    for delivery in deliveries:
        delivery.save()
        _enqueue(delivery)
    return note


def _enqueue(delivery: Delivery) -> None:
    # django-rq enqueues after the surrounding transaction commits (RQ["COMMIT_MODE"]).
    try:
        django_rq.get_queue("default").enqueue(DELIVER_JOB, delivery.pk)
    except Exception:  # Redis down: the tick hands the pending delivery over later
        logger.exception("could not enqueue delivery %s", delivery.pk)


# --- Delivering -----------------------------------------------------------------------------


def url_problem(url: str) -> str | None:
    """Why notifications may not be sent to ``url`` (HTTPS only; loopback HTTP in tests)."""
    problem = credential_transport_problem(
        url, allow_http_loopback=getattr(settings, "PIXAUDIT_ALLOW_HTTP_LOOPBACK", False)
    )
    return problem[0].upper() + problem[1:] + "." if problem else None


def webhook_body(note: Notification, delivery: Delivery, timestamp: int) -> bytes:
    """The JSON body of a generic webhook (compact, sorted keys)."""
    document = {
        "id": str(delivery.uid),
        "event": note.event,
        "timestamp": timestamp,
        "created_at": note.created_at.isoformat(),
        "subject": note.subject,
        "text": note.body,
        "url": absolute_link(note.link),
        "data": note.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def slack_body(note: Notification) -> bytes:
    text = f"*{note.subject}*"
    if note.body:
        text += f"\n{note.body}"
    if note.link:
        text += f"\n<{absolute_link(note.link)}|Open in pixaudit>"
    return json.dumps({"text": text}).encode("utf-8")


def endpoint_secret(endpoint: Endpoint) -> str:
    return crypto.decrypt(endpoint.secret, aad=crypto.secret_aad("endpoint", endpoint.pk, "secret"))


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    problem = url_problem(url)
    if problem:
        raise RuntimeError(problem)
    response = requests.post(
        url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
    )
    if not 200 <= response.status_code < 300:
        raise _HTTPRefused(response.status_code)
    return response.status_code


class _HTTPRefused(RuntimeError):
    def __init__(self, status: int):
        self.status = status
        super().__init__(f"the endpoint answered HTTP {status}")


def _send(delivery: Delivery) -> int | None:
    note = delivery.notification
    if delivery.channel == "email":
        body = note.body + (f"\n\n{absolute_link(note.link)}" if note.link else "")
        send_mail(header_text(f"[pixaudit] {note.subject}"), body, None, [delivery.user.email])
        return None
    endpoint = delivery.endpoint
    if endpoint.kind == EndpointKind.SLACK:
        return _post(endpoint.url, slack_body(note), {"Content-Type": "application/json"})
    timestamp = int(time.time())
    body = webhook_body(note, delivery, timestamp)
    headers = signature_headers(
        secret=endpoint_secret(endpoint),
        body=body,
        event=note.event,
        delivery=str(delivery.uid),
        timestamp=timestamp,
    )
    return _post(endpoint.url, body, headers)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "the endpoint did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "the endpoint could not be reached: check the URL and network access"
    if isinstance(exc, crypto.DecryptionError):
        return f"the signing secret cannot be decrypted ({exc}); rotate it"
    return str(exc)[:500] or type(exc).__name__


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Try one delivery once; on failure schedule the next attempt (backoff) or give up."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery_id, status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING))
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = None
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    delivery = Delivery.objects.select_related("notification", "endpoint", "user").get(
        pk=delivery_id
    )
    now = timezone.now()
    try:
        delivery.response_status = _send(delivery)
    except Exception as exc:
        delivery.last_error = _error_text(exc)
        delivery.response_status = getattr(exc, "status", None)
        if delivery.attempts < max_attempts():
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts))
        else:
            delivery.status = DeliveryStatus.FAILED
        logger.warning(
            "delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, delivery.last_error
        )
    else:
        delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, ""
    delivery.save(
        update_fields=["status", "sent_at", "last_error", "response_status", "next_attempt_at"]
    )
    if delivery.status == DeliveryStatus.RETRYING and embedded_worker_running():
        _retry_schedule(delivery)
    return delivery


def _retry_schedule(delivery: Delivery) -> None:
    """The embedded worker has no tick: schedule the retry on its queue for its due time
    (the worker threads run it then, never earlier; ``lib/embedded_worker``)."""
    try:
        django_rq.get_queue("default").enqueue_at(
            delivery.next_attempt_at, RETRY_JOB, delivery.pk,
            job_id=f"pixaudit-delivery-{delivery.pk}-{delivery.attempts + 1}",
        )  # fmt: skip
    except Exception:  # the next run_scheduled hands it over instead
        logger.exception("could not schedule the retry of delivery %s", delivery.pk)


def delivery_retry_when_due(*, delivery_id: int, now=None) -> Delivery | None:
    """A scheduled retry: take the delivery from *retrying* (compare-and-set, so the tick or
    ``run_scheduled`` and this never both send it) and attempt it; None if not due or taken."""
    now = now or timezone.now()
    taken = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.RETRYING, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.PENDING)
    if not taken:
        return None
    return delivery_attempt(delivery_id=delivery_id)


def deliveries_dispatch_due(*, now=None) -> int:
    """Hand every retry whose time has come (and pending ones never handed over) to the queue."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=10)
    due = list(
        Delivery.objects.filter(
            status=DeliveryStatus.RETRYING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    lost = list(
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING, attempts=0, created_at__lt=stale
        ).values_list("pk", flat=True)[:500]
    )
    for pk in due:
        updated = Delivery.objects.filter(pk=pk, status=DeliveryStatus.RETRYING).update(
            status=DeliveryStatus.PENDING
        )
        if updated:
            _enqueue(Delivery(pk=pk))
    for pk in lost:
        _enqueue(Delivery(pk=pk))
    return len(due) + len(lost)


# --- Endpoints ------------------------------------------------------------------------------


def _clean(name: str, kind: str, url: str, events: Sequence[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not (name or "").strip():
        errors["name"] = "Give the endpoint a name."
    if kind not in EndpointKind.values:
        errors["kind"] = "Choose Slack-compatible or generic webhook."
    problem = url_problem(url or "")
    if problem:
        errors["url"] = problem
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        errors["events"] = f"Unknown events: {', '.join(unknown)}."
    if not events:
        errors["events"] = "Choose at least one event."
    return errors


@transaction.atomic
def endpoint_create(
    *, name: str, kind: str, url: str, events: Sequence[str], actor: Any, request: Any = None
) -> tuple[Endpoint, str]:
    """Create an endpoint; returns it and its signing secret (shown once; '' for Slack)."""
    errors = _clean(name, kind, url, events)
    if errors:
        raise ValidationError(errors)
    endpoint = Endpoint.objects.create(
        name=name.strip(),
        kind=kind,
        url=url.strip(),
        events=sorted(set(events)),
        created_by=actor,
    )
    secret = ""
    if kind == EndpointKind.WEBHOOK:
        secret = _secret_store(endpoint)
    audit_log_record(
        action="notifications.endpoint_created",
        obj=endpoint,
        actor=actor,
        request=request,
        kind=kind,
        events=endpoint.events,
    )
    return endpoint, secret


def _secret_store(endpoint: Endpoint) -> str:
    secret = "whsec_" + secrets.token_urlsafe(32)
    aad = crypto.secret_aad("endpoint", endpoint.pk, "secret")
    endpoint.secret = crypto.encrypt(secret, aad=aad)
    endpoint.save(update_fields=["secret"])
    return secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    name: str,
    url: str,
    events: Sequence[str],
    enabled: bool,
    actor: Any,
    request: Any = None,
) -> Endpoint:
    """Change an endpoint. A new URL needs a new secret (like a connection's destination)."""
    errors = _clean(name, endpoint.kind, url, events)
    if errors:
        raise ValidationError(errors)
    moved = url.strip() != endpoint.url
    changed = [
        f
        for f, new in (
            ("name", name.strip()),
            ("url", url.strip()),
            ("events", sorted(set(events))),
            ("enabled", bool(enabled)),
        )
        if getattr(endpoint, f) != new
    ]
    endpoint.name, endpoint.url = name.strip(), url.strip()
    endpoint.events, endpoint.enabled = sorted(set(events)), bool(enabled)
    endpoint.save()
    rotated = moved and endpoint.kind == EndpointKind.WEBHOOK
    if rotated:
        _secret_store(endpoint)
    audit_log_record(
        action="notifications.endpoint_updated",
        obj=endpoint,
        actor=actor,
        request=request,
        changed=changed,
        secret_rotated=rotated,
    )
    return endpoint


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: Endpoint, actor: Any, request: Any = None) -> str:
    """A new signing secret (returned once); the previous one stops validating at once."""
    if endpoint.kind != EndpointKind.WEBHOOK:
        raise ValidationError("Only generic webhooks are signed.")
    secret = _secret_store(endpoint)
    audit_log_record(
        action="notifications.endpoint_secret_rotated", obj=endpoint, actor=actor, request=request
    )
    return secret


@transaction.atomic
def endpoint_test(*, endpoint: Endpoint, actor: Any, request: Any = None) -> Notification:
    """Send a test message to this endpoint only (it shows in its delivery log)."""
    note = notification_emit(
        event="test",
        key=f"test:{endpoint.pk}:{secrets.token_hex(8)}",
        subject=f"Test message from pixaudit to {endpoint.name}",
        body="If you can read this, notifications reach this endpoint.",
        endpoints=[endpoint],
    )
    audit_log_record(
        action="notifications.endpoint_tested", obj=endpoint, actor=actor, request=request
    )
    return note


def endpoint_secrets_reencrypt() -> tuple[int, int]:
    """Re-encrypt webhook signing secrets not under the current key (``rotate_secrets_key``).

    Returns ``(re-encrypted, already current)``; each row in its own short transaction.
    """
    current = crypto.current_key_id()
    done = already = 0
    for pk in Endpoint.objects.exclude(secret="").values_list("pk", flat=True):
        with transaction.atomic():
            endpoint = Endpoint.objects.select_for_update().get(pk=pk)
            if crypto.key_id_of(endpoint.secret) == current:
                already += 1
                continue
            aad = crypto.secret_aad("endpoint", endpoint.pk, "secret")
            endpoint.secret = crypto.encrypt(crypto.decrypt(endpoint.secret, aad=aad), aad=aad)
            endpoint.save(update_fields=["secret"])
            done += 1
    return done, already
