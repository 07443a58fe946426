"""Reads of the API app: token lookup and the tokens a user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.api.models import ApiToken, TokenKind
from pixaudit.api.services import TOKEN_PREFIX, token_hash

__all__ = ["token_for_secret", "token_refusal", "tokens_visible_to"]


def token_for_secret(secret: str) -> ApiToken | None:
    """The token whose secret is ``secret`` (any state), or ``None``."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    return ApiToken.objects.select_related("user").filter(token_hash=token_hash(secret)).first()


def token_refusal(token: ApiToken) -> str | None:
    """Why ``token`` cannot be used now (revoked, expired, user inactive, auditor access
    ended), or ``None`` when it can."""
    from pixaudit.audits.selectors import invitations_active_for

    now = timezone.now()
    if token.revoked_at is not None:
        return "This token was revoked."
    if token.expires_at <= now:
        return "This token has expired."
    if not token.user.is_active:
        return "This token's user is deactivated."
    if token.user.role == Role.AUDITOR and not invitations_active_for(user=token.user).exists():
        return "This auditor's access has ended."
    return None


def tokens_visible_to(*, user: Any) -> QuerySet[ApiToken]:
    """A user's own tokens; admins also see every service token."""
    match = Q(user=user)
    if user.role == Role.ADMIN:
        match |= Q(kind=TokenKind.SERVICE)
    return ApiToken.objects.select_related("user", "push_connection").filter(match)
