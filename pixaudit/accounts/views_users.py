"""Admins manage users inside the app: invite, role, deactivate, reset MFA. Thin views.

Nothing here shows a TOTP key or a recovery code: an admin sees whether MFA is set up and
how many codes are left (``mfa.mfa_status``), and can only remove them (``mfa.mfa_reset``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pixaudit.accounts import mfa, selectors
from pixaudit.accounts.forms import InvitationAcceptForm, UserInviteForm, UserRoleForm
from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import action_required
from pixaudit.accounts.services import (
    InvitationUnusable,
    UserManagementRefused,
    user_active_set,
    user_invitation_accept,
    user_invitation_for_token,
    user_invitation_resend,
    user_invite,
    user_role_set,
)


@action_required("users.manage")
def user_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.user_rows(), 100).get_page(request.GET.get("page"))
    return render(request, "accounts/user_list.html", {"page": page})


@action_required("users.manage")
def user_invite_view(request: HttpRequest) -> HttpResponse:
    form = UserInviteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = user_invite(actor=request.user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"{invitation.user.username} is invited: the e-mail to {invitation.email} is "
                "on its way (its status shows below).",
            )
            return redirect("accounts:user_detail", pk=invitation.user.pk)
    status = 400 if form.errors else 200
    return render(request, "accounts/user_invite.html", {"form": form}, status=status)


@action_required("users.manage")
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    context = {
        "person": person,
        "mfa": mfa.mfa_status(user=person),
        "mfa_required": mfa.mfa_required_for(person),
        "invitation": person.invitations.order_by("-pk").first(),
        "role_form": UserRoleForm(initial={"role": person.role}),
        "is_self": person.pk == request.user.pk,
    }
    return render(request, "accounts/user_detail.html", context)


def _refused(request: HttpRequest, pk: int, exc: Exception) -> HttpResponse:
    messages.error(request, str(exc))
    return redirect("accounts:user_detail", pk=pk)


@require_POST
@action_required("users.manage")
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    form = UserRoleForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, UserManagementRefused("Choose one of the roles listed."))
    try:
        person = user_role_set(
            user=person, role=form.cleaned_data["role"], actor=request.user, request=request
        )
    except UserManagementRefused as exc:
        return _refused(request, pk, exc)
    messages.success(request, f"{person.username} is now {person.get_role_display().lower()}.")
    return redirect("accounts:user_detail", pk=pk)


@require_POST
@action_required("users.manage")
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        user_active_set(user=person, active=active, actor=request.user, request=request)
    except UserManagementRefused as exc:
        return _refused(request, pk, exc)
    if active:
        messages.success(request, f"{person.username} can sign in again.")
    else:
        messages.success(
            request, f"{person.username} is deactivated: their sessions ended and sign-in is "
            "refused. Their past actions stay in the history.",
        )  # fmt: skip
    return redirect("accounts:user_detail", pk=pk)


@require_POST
@action_required("users.manage")
def user_mfa_reset(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    if request.POST.get("confirm") != "yes":
        return _refused(
            request, pk, UserManagementRefused("Tick the confirmation to reset two-factor.")
        )
    try:
        mfa.mfa_reset(user=person, actor=request.user, request=request, via="users-page")
    except mfa.MFAResetRefused as exc:
        return _refused(request, pk, exc)
    messages.success(
        request,
        f"Two-factor authentication of {person.username} was reset: they set it up again at "
        "their next sign-in.",
    )
    return redirect("accounts:user_detail", pk=pk)


@require_POST
@action_required("users.manage")
def user_invitation_resend_view(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    try:
        invitation = user_invitation_resend(user=person, actor=request.user, request=request)
    except UserManagementRefused as exc:
        return _refused(request, pk, exc)
    messages.success(request, f"A new link is on its way to {invitation.email}.")
    return redirect("accounts:user_detail", pk=pk)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation e-mail: choose a password, then sign in (MFA follows)."""
    try:
        invitation = user_invitation_for_token(token=token)
    except InvitationUnusable as exc:
        return render(request, "accounts/invitation_accept.html", {"error": str(exc)}, status=404)
    form = InvitationAcceptForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_invitation_accept(
                token=token, password=form.cleaned_data["password1"], request=request
            )
        except ValidationError as exc:
            form.add_error("password1", exc)
        except InvitationUnusable as exc:
            return render(
                request, "accounts/invitation_accept.html", {"error": str(exc)}, status=404
            )
        else:
            login(request, user, backend="pixaudit.accounts.backends.LockoutModelBackend")
            return redirect("/")
    context = {"form": form, "invitation": invitation}
    return render(
        request, "accounts/invitation_accept.html", context, status=400 if form.errors else 200
    )
