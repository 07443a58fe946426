"""The one place reports views check access.

Every view names what it needs (``"reports.view"``, ``"reports.create"``, ...) through
:func:`reports_view`. Today a signed-in, active user may do everything here; when the roles
work lands, :func:`has_permission` is the only function to change (e.g. delegate to
``pixaudit.accounts.permissions.can``). Auditor downloads go through the audits app, which
calls ``services.report_pdf_watermarked`` after its own engagement scoping.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

PERMISSIONS = (
    "reports.view",
    "reports.create",
    "reports.download",
    "packs.download",
    "signing_key.view",
)


def has_permission(user: Any, permission: str) -> bool:
    """Whether ``user`` may do ``permission`` (login is the only requirement for now)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown reports permission {permission!r}")
    return bool(user and user.is_authenticated and user.is_active)


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
