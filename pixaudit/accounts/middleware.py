"""MFA enforcement: roles that require MFA reach nothing until enrolled and verified.

Install after ``django_otp.middleware.OTPMiddleware``. Users who enrolled voluntarily
(``MFA_SESSION_KEY`` set at login) must verify too. Exempt: the sign-in/out and MFA pages and
the invitation link; static files never reach Django's URL resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from pixaudit.accounts.mfa import (
    MFA_SESSION_KEY,
    mfa_is_enrolled,
    mfa_required_for,
    mfa_satisfied,
)

EXEMPT_VIEWS = frozenset(
    {
        "accounts:login",
        "accounts:logout",
        "accounts:mfa_enrol",
        "accounts:mfa_verify",
        "audits:invitation_accept",
        "accounts:invitation_accept",
        "accounts:oidc_login",
        "accounts:oidc_callback",
    }
)


class MFAEnforcementMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and match.view_name in EXEMPT_VIEWS:
            return None
        if mfa_satisfied(request):  # TOTP here, or the SSO provider's second factor
            return None
        if not (mfa_required_for(user) or request.session.get(MFA_SESSION_KEY)):
            return None
        target = "accounts:mfa_verify" if mfa_is_enrolled(user) else "accounts:mfa_enrol"
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse(target)}?{query}")
