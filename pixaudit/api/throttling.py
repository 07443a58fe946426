"""Rate limits per token and per client address (429 with ``Retry-After``).

Rates come from ``PIXAUDIT_API_RATE_PER_TOKEN`` and ``PIXAUDIT_API_RATE_PER_IP`` (DRF's
``"<n>/<second|minute|hour|day>"``), read on every request so they can be changed in
tests. Counters live in the ``api`` cache: Redis when ``REDIS_URL`` is set (shared by
every web process), process memory otherwise.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from pixaudit.auditlog.services import client_ip

__all__ = ["IpRateThrottle", "TokenRateThrottle"]


class _Throttle(SimpleRateThrottle):
    setting = ""
    default = ""

    def __init__(self) -> None:  # the base reads the rate from DRF settings at import
        self.cache = caches["api"]
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str:
        return str(getattr(settings, self.setting, self.default))


class TokenRateThrottle(_Throttle):
    """Requests per token (unauthenticated requests are left to the per-IP limit)."""

    scope = "token"
    setting = "PIXAUDIT_API_RATE_PER_TOKEN"
    default = "600/minute"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class IpRateThrottle(_Throttle):
    """Requests per client address, authenticated or not."""

    scope = "ip"
    setting = "PIXAUDIT_API_RATE_PER_IP"
    default = "1200/minute"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request._request)}
