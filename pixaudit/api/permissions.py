"""Who may call an endpoint: the token's scope AND the user's role (``accounts.permissions``).

Each API view declares ``access = {"GET": (scope, action), "POST": (scope, action)}``;
``action`` is a key of ``pixaudit.accounts.permissions.ACTIONS`` (the same table the pages
use), so a token never does more than its user could do in the app. A view may also declare
``role_refusals = {role: message}``: a role the action never allows is then refused with that
message (before the scope check), e.g. auditors, who get reports only through engagements.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from pixaudit.accounts.permissions import ACTIONS, can
from pixaudit.api.models import ApiToken

__all__ = ["ScopeAndRole", "access_for"]


def access_for(view, method: str) -> tuple[str, str] | None:
    """The ``(scope, action)`` a view requires for ``method`` (HEAD as GET)."""
    access = getattr(view, "access", {})
    return access.get("GET" if method in ("HEAD", "OPTIONS") else method)


class ScopeAndRole(BasePermission):
    """A valid token whose scopes include the endpoint's scope, for a role the action allows;
    a token restricted to a push connection only on the push endpoint (``push_endpoint``)."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.NotAuthenticated("Send a token: Authorization: Bearer <token>.")
        required = access_for(view, request.method)
        if required is None:
            raise exceptions.MethodNotAllowed(request.method)
        scope, action = required
        assert action in ACTIONS, action
        refusal = getattr(view, "role_refusals", {}).get(getattr(request.user, "role", None))
        if refusal is not None and not can(request.user, action):
            raise exceptions.PermissionDenied(refusal)
        if scope not in token.scopes:
            raise exceptions.PermissionDenied(f"This token does not have the {scope!r} scope.")
        if token.push_connection_id is not None and not getattr(view, "push_endpoint", False):
            raise exceptions.PermissionDenied(
                "This token only pushes evidence, to connection "
                f"{token.push_connection.name!r} (POST /api/v1/push/"
                f"{token.push_connection.collector_key}/)."
            )
        if not can(request.user, action):
            raise exceptions.PermissionDenied("Your role does not give access to this.")
        return True
