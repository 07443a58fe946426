"""The one place dashboard views check access.

Views name what they need (``"posture.view"``, ``"connections.manage"``, ...) through
:func:`dashboard_view`; who may do what is decided once, in ``pixaudit.accounts.permissions``
(``ACTIONS``), which the permission matrix test checks against every URL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from pixaudit.accounts.permissions import can

PERMISSIONS = (
    "posture.view",
    "controls.own",
    "connections.view",
    "connections.manage",
    "runs.start",
    "evidence.view",
    "evidence.verify",
    "soa.view",
    "soa.manage",
)


def has_permission(user: Any, permission: str) -> bool:
    """Whether ``user`` may do ``permission`` (the roles table in accounts.permissions)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown dashboard permission {permission!r}")
    return can(user, permission)


def dashboard_view(permission: str) -> Callable:
    """Decorate a view: login required, then ``permission`` checked (403 otherwise)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown dashboard permission {permission!r}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_permission(request.user, permission):
                raise PermissionDenied(permission)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator
