"""Sign-in, MFA enrolment and verification. Thin: the work is in ``mfa`` and ``lockout``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from pixaudit.accounts import mfa
from pixaudit.accounts.forms import LockoutAuthenticationForm, TokenForm
from pixaudit.accounts.models import Role


class PixauditLoginView(LoginView):
    form_class = LockoutAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        user = self.request.user
        if user.is_authenticated and user.role == Role.AUDITOR:
            return resolve_url("audits:engagement_list")
        return super().get_default_redirect_url()


ADMIN_STAFF_ONLY = (
    "The administration site is for staff accounts only. Everything your role allows is in "
    "pixaudit's own pages."
)


def admin_login(request: HttpRequest) -> HttpResponse:
    """``/admin/login/``: one sign-in page for everyone, and no redirect loop.

    Django's admin sends anyone it refuses here. Anonymous visitors go to the app's sign-in
    page (throttling, lockout and MFA apply); a signed-in staff member goes on to the admin;
    anyone else signed in gets the 403 page: sending them to sign in again would bring them
    straight back (the loop an engineer reaching ``/admin/`` used to see).
    """
    user = request.user
    if not user.is_authenticated:
        query = request.META.get("QUERY_STRING", "")
        return redirect(resolve_url("accounts:login") + (f"?{query}" if query else ""))
    if not (user.is_active and user.is_staff):
        raise PermissionDenied(ADMIN_STAFF_ONLY)
    candidate = request.GET.get("next") or ""
    if candidate.startswith("/admin/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}
    ):
        return redirect(candidate)
    return redirect("admin:index")


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    if request.user.role == Role.AUDITOR:
        return resolve_url("audits:engagement_list")
    return resolve_url("/")


@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if not mfa.mfa_is_enrolled(user):
        return redirect("accounts:mfa_enrol")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.mfa_verify(user=user, token=form.cleaned_data["token"], request=request)
        except mfa.MFAThrottled as exc:
            form.add_error("token", exc.message)
        else:
            if device is not None:
                if mfa.recovery_codes_remaining(user=user) <= 2:
                    messages.warning(
                        request, "Few recovery codes are left: generate new ones under Security."
                    )
                return redirect(_next_url(request))
            form.add_error("token", "That code is not valid. Wait for a new code and try again.")
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": _next_url(request)})


@login_required
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    user = request.user
    if mfa.mfa_is_enrolled(user):
        # Replacing a device needs the old one: a password alone must not be enough.
        if not user.is_verified():
            return redirect("accounts:mfa_verify")
        return redirect("accounts:mfa_settings")
    device = mfa.totp_device_pending(user=user)
    form = TokenForm(request.POST or None)
    form.fields["token"].help_text = "The 6-digit code your authenticator app shows now."
    if request.method == "POST" and form.is_valid():
        try:
            codes = mfa.mfa_enrol_confirm(
                user=user, device=device, token=form.cleaned_data["token"], request=request
            )
        except mfa.MFAThrottled as exc:
            form.add_error("token", exc.message)
        else:
            if codes is not None:
                return render(
                    request,
                    "accounts/mfa_recovery_codes.html",
                    {"codes": codes, "next": _next_url(request), "enrolled": True},
                )
            form.add_error("token", "That code does not match. Check the device's clock and retry.")
    context = {
        "form": form,
        "qr": mfa.totp_qr_data_uri(device),
        "secret": mfa.totp_secret_b32(device),
        "required": mfa.mfa_required_for(user),
        "next": _next_url(request),
    }
    return render(request, "accounts/mfa_enrol.html", context)


@login_required
def mfa_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "enrolled": mfa.mfa_is_enrolled(user),
        "required": mfa.mfa_required_for(user),
        "verified": user.is_verified(),
        "codes_left": mfa.recovery_codes_remaining(user=user),
    }
    return render(request, "accounts/mfa_settings.html", context)


@require_POST
@login_required
def mfa_recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (mfa.mfa_is_enrolled(user) and user.is_verified()):
        return redirect("accounts:mfa_settings")
    codes = mfa.recovery_codes_regenerate(user=user, request=request)
    return render(
        request,
        "accounts/mfa_recovery_codes.html",
        {"codes": codes, "next": resolve_url("accounts:mfa_settings"), "enrolled": False},
    )
