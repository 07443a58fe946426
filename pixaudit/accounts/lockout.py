"""Sign-in throttling: too many failures lock a username (and, more leniently, an IP).

Defaults: 5 failures for one username, or 20 from one IP address (offices share addresses),
within 15 minutes lock that username / address for 15 minutes. Settings:
``PIXAUDIT_LOGIN_MAX_FAILURES``, ``PIXAUDIT_LOGIN_MAX_FAILURES_PER_IP``,
``PIXAUDIT_LOGIN_WINDOW_SECONDS``, ``PIXAUDIT_LOGIN_LOCKOUT_SECONDS``. Every failure, refusal
and lockout goes to the audit log; the rows here are only the short-lived counters.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from pixaudit.accounts.models import LoginFailure, LoginLockout
from pixaudit.auditlog.services import audit_log_record, client_ip

__all__ = [
    "login_failure_record",
    "login_failures_clear",
    "login_lockout_active",
    "lockout_message",
]


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _normalise(username: str) -> str:
    return (username or "").strip().lower()[:150]


def login_lockout_active(*, username: str, ip: str | None) -> LoginLockout | None:
    """The lockout (if any) that currently refuses this username or address."""
    match = Q(scope=LoginLockout.Scope.USERNAME, key=_normalise(username))
    if ip:
        match |= Q(scope=LoginLockout.Scope.IP, key=ip)
    return (
        LoginLockout.objects.filter(match, locked_until__gt=timezone.now())
        .order_by("-locked_until")
        .first()
    )


def lockout_message(lockout: LoginLockout) -> str:
    minutes = max(1, math.ceil((lockout.locked_until - timezone.now()).total_seconds() / 60))
    return (
        "Too many failed sign-in attempts. Sign-in is locked for "
        f"{minutes} more minute{'s' if minutes != 1 else ''}; try again later or ask an "
        "administrator."
    )


def _lock(*, scope: str, key: str, request: HttpRequest | None, failures: int) -> LoginLockout:
    until = timezone.now() + timedelta(seconds=_setting("PIXAUDIT_LOGIN_LOCKOUT_SECONDS", 900))
    lockout = LoginLockout.objects.create(scope=scope, key=key, locked_until=until)
    if scope == LoginLockout.Scope.USERNAME:
        LoginFailure.objects.filter(username=key).delete()
    else:
        LoginFailure.objects.filter(ip=key).delete()
    audit_log_record(
        action="auth.lockout",
        obj=lockout,
        request=request,
        scope=scope,
        key=key,
        failures=failures,
        locked_until=until,
    )
    return lockout


@transaction.atomic
def login_failure_record(*, username: str, request: HttpRequest | None) -> LoginLockout | None:
    """Count one failed sign-in; return the lockout it triggers (or that already refused it)."""
    name = _normalise(username)
    ip = client_ip(request)
    active = login_lockout_active(username=name, ip=ip)
    if active is not None:
        audit_log_record(action="auth.login_refused", request=request, username=name,
                         reason="locked", locked_until=active.locked_until)  # fmt: skip
        return active
    now = timezone.now()
    window = timedelta(seconds=_setting("PIXAUDIT_LOGIN_WINDOW_SECONDS", 900))
    LoginFailure.objects.filter(at__lt=now - window).delete()
    LoginFailure.objects.create(username=name, ip=ip, at=now)
    audit_log_record(action="auth.login_failed", request=request, username=name)
    by_user = LoginFailure.objects.filter(username=name).count()
    if by_user >= _setting("PIXAUDIT_LOGIN_MAX_FAILURES", 5):
        return _lock(scope=LoginLockout.Scope.USERNAME, key=name, request=request, failures=by_user)
    if ip:
        by_ip = LoginFailure.objects.filter(ip=ip).count()
        if by_ip >= _setting("PIXAUDIT_LOGIN_MAX_FAILURES_PER_IP", 20):
            return _lock(scope=LoginLockout.Scope.IP, key=ip, request=request, failures=by_ip)
    return None


def login_failures_clear(*, username: str) -> None:
    """A successful sign-in forgets the username's earlier failures."""
    LoginFailure.objects.filter(username=_normalise(username)).delete()
