"""Sign-in events: audit log, lockout counters, MFA session flag, auditor session length.

Connected in ``AccountsConfig.ready``. Driven by Django's own signals so that every way of
signing in (our login view, the admin, ``client.force_login`` in tests) behaves the same.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from pixaudit.accounts.lockout import login_failure_record, login_failures_clear
from pixaudit.accounts.models import Role
from pixaudit.auditlog.services import audit_log_record


@receiver(user_logged_in, dispatch_uid="pixaudit_accounts_logged_in")
def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from pixaudit.accounts.mfa import MFA_SESSION_KEY, SSO_MFA_SESSION_KEY, mfa_is_enrolled

    login_failures_clear(username=user.get_username())
    if request is not None and hasattr(request, "session"):
        request.session[MFA_SESSION_KEY] = mfa_is_enrolled(user)
        # A new sign-in starts without the provider's second factor; single sign-on sets it
        # again when its token names one (pixaudit.accounts.oidc).
        request.session.pop(SSO_MFA_SESSION_KEY, None)
        if user.role == Role.AUDITOR:
            request.session.set_expiry(settings.PIXAUDIT_AUDITOR_SESSION_SECONDS)
    audit_log_record(actor=user, action="auth.login", obj=user, request=request)


@receiver(user_logged_out, dispatch_uid="pixaudit_accounts_logged_out")
def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_log_record(actor=user, action="auth.logout", obj=user, request=request)


@receiver(user_login_failed, dispatch_uid="pixaudit_accounts_login_failed")
def on_login_failed(
    sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    login_failure_record(username=str(credentials.get("username", "")), request=request)
