"""Writes of the API app: create (shown once), revoke and touch API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.api.models import ApiToken, Scope, TokenKind
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.services.connections import collector_is_pushed

__all__ = [
    "TOKEN_PREFIX",
    "NewToken",
    "token_create",
    "token_hash",
    "token_revoke",
    "token_touch",
]

TOKEN_PREFIX = "pxa_"
#: Roles allowed each scope (a scope a role cannot use is refused at creation).
SCOPE_ROLES: dict[str, frozenset[str]] = {
    Scope.READ: frozenset(Role.values),
    Scope.WRITE_EVIDENCE: frozenset(Role.values),
    Scope.WRITE_RUNS: frozenset({Role.ADMIN, Role.COMPLIANCE_MANAGER, Role.ENGINEER}),
    # Requesting a report is a manager's action on the site (``reports.create``).
    Scope.WRITE_REPORTS: frozenset({Role.ADMIN, Role.COMPLIANCE_MANAGER}),
    Scope.ADMIN: frozenset({Role.ADMIN}),
}
#: How often ``last_used_at`` is written at most (a write per request would cost throughput).
TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    """SHA-256 (hex) of the whole token string."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A created token and its secret string (returned once, never stored)."""

    token: ApiToken
    secret: str


def _days(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _auditor_access_until(user: Any) -> datetime | None:
    from pixaudit.audits.selectors import invitations_active_for

    ends = list(invitations_active_for(user=user).values_list("expires_at", flat=True))
    return max(ends, default=None)


def token_create(
    *,
    user: Any,
    name: str,
    scopes: list[str],
    kind: str = TokenKind.PERSONAL,
    expires_in_days: int | None = None,
    push_connection: Any = None,
    request: Any = None,
) -> NewToken:
    """Create a token for ``user``; raise ``ValidationError`` naming every bad field.

    ``push_connection`` (a connection of a push collector) restricts the token to pushing
    evidence to that connection: its only scope is ``write:evidence``, every other endpoint
    refuses it, and a push that names no connection goes to this one.

    Expiry: ``expires_in_days`` (default ``PIXAUDIT_API_TOKEN_DAYS``, 90) capped by
    ``PIXAUDIT_API_TOKEN_MAX_DAYS`` (365); an auditor's token never outlives the auditor's
    latest active invitation (and an auditor without one gets none). Service tokens are
    for admins and managers. Audited as ``api_token.created`` (never the secret).
    """
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the token a name (what uses it)."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    scopes = sorted(set(scopes or []))
    unknown = [s for s in scopes if s not in Scope.values]
    if not scopes:
        errors["scopes"] = "Choose at least one scope."
    elif unknown:
        errors["scopes"] = f"Unknown scope(s): {', '.join(unknown)}."
    else:
        refused = [s for s in scopes if user.role not in SCOPE_ROLES[s]]
        if refused:
            errors["scopes"] = f"Your role cannot use: {', '.join(refused)}."
    if kind not in TokenKind.values:
        errors["kind"] = "Unknown kind of token."
    elif kind == TokenKind.SERVICE and user.role not in (Role.ADMIN, Role.COMPLIANCE_MANAGER):
        errors["kind"] = "Only admins and compliance managers create service tokens."
    maximum = _days("PIXAUDIT_API_TOKEN_MAX_DAYS", 365)
    days = _days("PIXAUDIT_API_TOKEN_DAYS", 90) if expires_in_days is None else expires_in_days
    if not isinstance(days, int) or days < 1:
        errors["expires_in_days"] = "A whole number of days, at least 1."
    elif days > maximum:
        errors["expires_in_days"] = f"At most {maximum} days."
    now = timezone.now()
    expires_at = now + timedelta(days=days if isinstance(days, int) and days > 0 else 1)
    if user.role == Role.AUDITOR:
        until = _auditor_access_until(user)
        if until is None:
            errors["user"] = "Your auditor access has ended; a token cannot outlive it."
        else:
            expires_at = min(expires_at, until)
    if push_connection is not None:
        if not collector_is_pushed(push_connection.collector_key):
            errors["push_connection"] = (
                f"{push_connection.name} is not a push connection: its evidence is collected."
            )
        elif scopes != [Scope.WRITE_EVIDENCE]:
            errors["scopes"] = (
                "A token restricted to a push connection has the write:evidence scope only."
            )
    if errors:
        raise ValidationError(errors)
    prefix = secrets.token_hex(5)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, kind=kind, prefix=prefix, token_hash=token_hash(secret),
            scopes=scopes, expires_at=expires_at, push_connection=push_connection,
        )  # fmt: skip
        restricted = {} if push_connection is None else {"push_connection": push_connection.name}
        audit_log_record(actor=user, action="api_token.created", obj=token, request=request,
                         scopes=scopes, kind=kind, expires_at=expires_at,
                         **restricted)  # fmt: skip
    return NewToken(token=token, secret=secret)


def token_revoke(*, token: ApiToken, user: Any, request: Any = None) -> ApiToken:
    """Revoke ``token`` (its owner, or an admin). Revoking twice changes nothing."""
    if token.user_id != user.pk and user.role != Role.ADMIN:
        raise ValidationError("Only the token's owner or an admin can revoke it.")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at, token.revoked_by = timezone.now(), user
            token.save(update_fields=["revoked_at", "revoked_by"])
            audit_log_record(actor=user, action="api_token.revoked", obj=token, request=request,
                             owner=token.user.get_username())  # fmt: skip
    return token


def token_touch(*, token: ApiToken, ip: str | None) -> None:
    """Record use: ``last_used_at`` / ``last_used_ip``, written at most once a minute."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        if token.last_used_ip == ip:
            return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip
