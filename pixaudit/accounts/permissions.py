"""The one place where role rules live.

Views apply a role set with one decorator::

    from pixaudit.accounts.permissions import INTERNAL, role_required

    @role_required(INTERNAL)
    def my_view(request): ...

Anonymous users are sent to the login page; a signed-in user whose role is not listed gets
403. Auditors belong to no internal set, so any view decorated with ``INTERNAL`` (or a subset)
refuses them: they reach only the engagement pages, which scope every object to the
auditor's active invitations (``pixaudit.audits.selectors``).

Templates ask ``can`` through the ``pixaudit_perms`` filter::

    {% load pixaudit_perms %}{% if user|can:"engagements.manage" %}...{% endif %}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from pixaudit.accounts.models import Role

__all__ = [
    "ACTIONS",
    "ADMINS",
    "AUDITORS",
    "ENGAGEMENT_READERS",
    "INTERNAL",
    "MANAGERS",
    "MFA_REQUIRED",
    "action_required",
    "can",
    "role_required",
]

ADMINS = frozenset({Role.ADMIN.value})
MANAGERS = frozenset({Role.ADMIN.value, Role.COMPLIANCE_MANAGER.value})
INTERNAL = frozenset({Role.ADMIN.value, Role.COMPLIANCE_MANAGER.value, Role.ENGINEER.value})
AUDITORS = frozenset({Role.AUDITOR.value})
#: Who may open engagement pages (auditors only their own, scoped by the selectors).
ENGAGEMENT_READERS = MANAGERS | AUDITORS
#: Roles that cannot use the app until a TOTP device is enrolled and verified this session.
MFA_REQUIRED = MANAGERS

#: action -> roles allowed. Keep in step with the views' decorators (tests/security checks).
ACTIONS: dict[str, frozenset[str]] = {
    "catalog.view": INTERNAL,
    "dashboard.view": INTERNAL,
    "posture.view": INTERNAL,
    "controls.own": MANAGERS,
    "connections.view": INTERNAL,
    # Integrations: engineers set them up, and compliance managers may add them too.
    "connections.manage": INTERNAL,
    "runs.start": INTERNAL,
    "evidence.view": INTERNAL,
    "evidence.verify": INTERNAL,
    "evidence.upload": MANAGERS,
    "soa.view": INTERNAL,
    "soa.manage": MANAGERS,
    # Reports: auditors get reports and packs only through their engagement pages
    # (audits.selectors.engagement_downloads).
    "reports.view": INTERNAL,
    "reports.create": MANAGERS,
    "reports.download": INTERNAL,
    "packs.download": MANAGERS,
    # What the organisation states in its reports: scope, management assertion, narratives.
    "reports.scope_edit": MANAGERS,
    "signing_key.view": INTERNAL,
    # Access reviews: anyone internal may be a reviewer; the service also checks assignment.
    "reviews.view": INTERNAL,
    "reviews.manage": MANAGERS,
    "reviews.decide": INTERNAL,
    "people.view": INTERNAL,
    "people.manage": MANAGERS,
    # The vendor register: internal users read it (and its files and export); managers edit,
    # import and publish the sub-processor list. Auditors see its evidence through their
    # engagement (the vendor_register evidence item), not these pages.
    "vendors.view": INTERNAL,
    "vendors.manage": MANAGERS,
    # The data-subject request register: compliance managers and admins only (auditors
    # never see it; its evidence item carries references and dates, no personal data).
    "privacy.manage": MANAGERS,
    "manual_evidence.view": INTERNAL,
    "manual_evidence.manage": MANAGERS,
    "commitments.view": INTERNAL,
    "commitments.manage": MANAGERS,
    "engagements.view": ENGAGEMENT_READERS,
    "engagements.manage": MANAGERS,
    "evidence_requests.create": AUDITORS,
    "evidence_requests.answer": MANAGERS,
    "evidence_requests.review": AUDITORS,
    "samples.draw": ENGAGEMENT_READERS,
    "samples.test": AUDITORS,
    # Exceptions register: internal users read it and ask for risk acceptance; managers set
    # owners and notes and approve (never their own request, see exceptions.services).
    # Auditors read their engagement's register through the engagement scope.
    "exceptions.view": INTERNAL,
    "exceptions.request_acceptance": INTERNAL,
    "exceptions.manage": MANAGERS,
    # Tasks: every internal user has "My work"; managers assign; the service also checks
    # that only the assignee, the author or a manager closes or reopens a task.
    "tasks.view": INTERNAL,
    "tasks.create": INTERNAL,
    "tasks.assign": MANAGERS,
    "tasks.work": INTERNAL,
    # Notifications: everyone signed in sets their own preferences (auditors get answers to
    # their requests); managers configure the webhook endpoints.
    "notifications.preferences": INTERNAL | AUDITORS,
    "notifications.manage": MANAGERS,
    # Compliance managers read (and export) the audit log; admins manage users.
    "auditlog.view": MANAGERS,
    "users.manage": ADMINS,
    # The REST API (pixaudit.api): every role may hold tokens and read the schema; rows of
    # push collectors (CI deployments, restore tests) are pushed by internal users' tokens.
    "api.use": INTERNAL | AUDITORS,
    "evidence.push": INTERNAL,
}


def _flatten(roles: Iterable[Any]) -> frozenset[str]:
    out: set[str] = set()
    for role in roles:
        if isinstance(role, str):
            out.add(str(role))
        else:
            out.update(str(r) for r in role)
    return frozenset(out)


def can(user: Any, action: str) -> bool:
    """True when ``user`` (possibly anonymous) may perform ``action``.

    An unknown action is a programming error and raises ``KeyError`` rather than allowing.
    """
    allowed = ACTIONS[action]
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.role in allowed


def action_required(action: str) -> Callable:
    """View decorator naming an action of ``ACTIONS`` (an unknown one fails at import)."""
    return role_required(ACTIONS[action])


def role_required(*roles: str | Iterable[str]) -> Callable:
    """View decorator: anonymous -> login page, signed-in without one of ``roles`` -> 403.

    Accepts role names and/or role sets: ``@role_required(MANAGERS)``,
    ``@role_required(Role.ADMIN, Role.ENGINEER)``.
    """
    allowed = _flatten(roles)
    if not allowed:
        raise ValueError("role_required needs at least one role")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if user.role not in allowed:
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator
