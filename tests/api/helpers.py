"""API test helpers: tokens for a role, clients that send them, a clean rate-limit cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from pixaudit.api.models import ApiToken, Scope
from pixaudit.api.services import SCOPE_ROLES, token_create, token_hash

__all__ = ["api_client", "fresh_api_cache", "scopes_for", "token_for", "token_unchecked"]


def scopes_for(user) -> list[str]:
    """Every scope the user's role may hold."""
    return [s for s in Scope.values if user.role in SCOPE_ROLES[s]]


def token_for(user, scopes: list[str] | None = None, **kw) -> str:
    """A new token's secret, created through the service."""
    return token_create(user=user, name="test", scopes=scopes or scopes_for(user), **kw).secret


def token_unchecked(user, scopes: list[str] | None = None, *, expires_in=timedelta(days=1)) -> str:
    """A token written around the service (e.g. for a user the service would refuse)."""
    secret = f"pxa_{user.pk:010d}_{'x' * 43}"
    ApiToken.objects.create(
        user=user, name="raw", prefix=f"{user.pk:010d}", token_hash=token_hash(secret),
        scopes=scopes or ["read"], expires_at=timezone.now() + expires_in,
    )  # fmt: skip
    return secret


def api_client(secret: str | None) -> Client:
    """A client that sends ``Authorization: Bearer <secret>`` (none when ``secret`` is None)."""
    if secret is None:
        return Client()
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture(autouse=True)
def fresh_api_cache():
    """Rate-limit counters live in Redis when REDIS_URL is set: every test starts at zero."""
    caches["api"].clear()
    yield
    caches["api"].clear()
