"""The one place reports views check access.

Every view names what it needs (``"reports.view"``, ``"reports.create"``, ...) through
:func:`reports_view`; who may do what is decided once, in ``pixaudit.accounts.permissions``
(``ACTIONS``), which the permission matrix test checks against every URL. Internal users
only: auditors never reach ``/reports/`` (403); they get their engagement's PDF (watermarked)
and evidence pack through the audits app, which scopes them to their engagement first.
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
    "reports.view",
    "reports.create",
    "reports.download",
    "packs.download",
    "signing_key.view",
)


def has_permission(user: Any, permission: str) -> bool:
    """Whether ``user`` may do ``permission`` (the roles table in accounts.permissions)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown reports permission {permission!r}")
    return can(user, permission)


def reports_view(permission: str) -> Callable:
    """Decorate a view: login required, then ``permission`` checked (403 otherwise)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown reports permission {permission!r}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_permission(request.user, permission):
                raise PermissionDenied(permission)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator
