"""Writes to the audit log. ``audit_log_record`` is the one entry point for every app."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from pixaudit.auditlog.context import acting_token_label
from pixaudit.auditlog.models import AuditEvent

__all__ = ["audit_log_record", "client_ip"]


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address Django saw (behind a proxy, configure the proxy to set REMOTE_ADDR)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _object_fields(obj: Any) -> dict[str, str]:
    if obj is None:
        return {}
    if isinstance(obj, models.Model):
        return {
            "object_type": obj._meta.label_lower,
            "object_id": str(obj.pk or "")[:64],
            "object_repr": str(obj)[:200],
        }
    return {"object_type": type(obj).__name__[:100], "object_repr": str(obj)[:200]}


def audit_log_record(
    *,
    actor: Any = None,
    action: str,
    obj: Any = None,
    request: HttpRequest | None = None,
    **details: Any,
) -> AuditEvent:
    """Append one event. ``actor`` defaults to the request's authenticated user.

    ``obj`` is a model instance (type, id and repr are recorded) or any object with a useful
    ``str``; ``details`` must be JSON-serialisable (dates, decimals and UUIDs are fine) and
    must never contain a secret, a password or a token.
    """
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""
    token = acting_token_label()
    if token is not None:  # an API request: the event names the token it acted with
        details = {**details, "api_token": token}
    event = AuditEvent(
        actor_id=actor.pk if actor is not None else None,
        actor_repr=actor.get_username()[:150] if actor is not None else "",
        action=action[:64],
        ip=client_ip(request),
        user_agent=user_agent,
        details=details,
        **_object_fields(obj),
    )
    event.save()
    return event
