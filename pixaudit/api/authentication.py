"""Bearer-token authentication, with failed attempts throttled like sign-in.

A request with ``Authorization: Bearer pxa_…`` is authenticated by the token's hash. A
wrong, revoked or expired token counts as a failed sign-in (``accounts.lockout``) under the
name ``api:<client IP>``: five within the sign-in window lock API authentication from that
address (and twenty lock sign-in from it, as for the login page) for the lockout period;
meanwhile every request from it gets 429 with ``Retry-After``, valid token or not.
"""

from __future__ import annotations

import math

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from pixaudit.accounts.lockout import login_failure_record, login_lockout_active
from pixaudit.api.selectors import token_for_secret, token_refusal
from pixaudit.api.services import token_touch
from pixaudit.auditlog.context import acting_token_set
from pixaudit.auditlog.services import client_ip

__all__ = ["TokenAuthentication", "api_failure_name"]


def api_failure_name(ip: str | None) -> str:
    """The sign-in throttle's "username" for API authentication failures from ``ip``."""
    return f"api:{ip or 'unknown'}"


def _throttled(lockout) -> exceptions.Throttled:
    wait = max(1, math.ceil((lockout.locked_until - timezone.now()).total_seconds()))
    return exceptions.Throttled(
        wait=wait, detail="Too many failed authentications from this address."
    )


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``; sets ``request.auth`` to the :class:`ApiToken`."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        ip = client_ip(request._request)
        lockout = login_lockout_active(username=api_failure_name(ip), ip=ip)
        if lockout is not None:
            raise _throttled(lockout)
        if header[0].lower() != self.keyword or len(header) != 2:
            return self._fail(request, "Use the header: Authorization: Bearer <token>.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            return self._fail(request, "The token is not valid.")
        token = token_for_secret(secret)
        if token is None:
            return self._fail(request, "The token is not valid.")
        refusal = token_refusal(token)
        if refusal is not None:
            return self._fail(request, refusal)
        token_touch(token=token, ip=ip)
        acting_token_set(token.label)  # every audit event of this request names the token
        return token.user, token

    def _fail(self, request, message: str):
        lockout = login_failure_record(
            username=api_failure_name(client_ip(request._request)), request=request._request
        )
        if lockout is not None:
            raise _throttled(lockout)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="pixaudit"'


try:  # the OpenAPI description of the scheme (drf-spectacular finds it by import)
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
        target_class = "pixaudit.api.authentication.TokenAuthentication"
        name = "bearer"

        def get_security_definition(self, auto_schema):
            return {"type": "http", "scheme": "bearer",
                    "description": "An API token (pxa_…) from the tokens page."}  # fmt: skip
except ImportError:  # pragma: no cover - drf-spectacular is a dependency
    pass
