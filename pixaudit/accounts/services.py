"""Writes on users."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pixaudit.accounts.models import InvitationEmail, Role, User, UserInvitation
from pixaudit.accounts.permissions import MFA_REQUIRED
from pixaudit.auditlog.services import audit_log_record
from pixaudit.lib.invitation_mail import invitation_mail_send, invitation_token_hash
from pixaudit.lib.single_line import header_text


@dataclass(frozen=True)
class DemoCredential:
    """What ``manage.py demo`` prints for one demo user.

    For roles that require MFA the user is pre-enrolled: ``totp_uri`` is the otpauth:// URI
    to add to an authenticator app, ``recovery_codes`` are one-time codes accepted at the
    verification step instead of a TOTP token (so the demo works without a phone).
    """

    username: str
    password: str
    role: str
    totp_uri: str = ""
    recovery_codes: tuple[str, ...] = field(default_factory=tuple)


def user_create(
    *, username: str, email: str, role: str, password: str | None, actor: User | None = None
) -> User:
    """Create a user with a role; admins also get Django admin access."""
    user = User(username=username, email=email, role=role)
    user.is_staff = role == Role.ADMIN
    user.is_superuser = role == Role.ADMIN
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    audit_log_record(actor=actor, action="user.created", obj=user, role=role)
    return user


@transaction.atomic
def demo_users_ensure() -> list[DemoCredential]:
    """Create (or reset) one demo user per role with a fresh random password.

    Passwords are random on every call so that a demo left running never carries a
    well-known password; the caller prints them. Users whose role requires MFA get a new
    TOTP device and recovery codes on every call (printed too).
    """
    credentials = []
    for role in Role:
        username = f"demo-{role.value.replace('_', '-')}"
        password = secrets.token_urlsafe(12)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(
                username=username,
                email=f"{username}@example.com",
                role=role.value,
                password=password,
            )
        else:
            user.role = role.value
            user.set_password(password)
            user.save(update_fields=["role", "password"])
        totp_uri, codes = "", ()
        if role.value in MFA_REQUIRED:
            from pixaudit.accounts.mfa import demo_mfa_ensure

            totp_uri, code_list = demo_mfa_ensure(user=user)
            codes = tuple(code_list)
        credentials.append(
            DemoCredential(
                username=username,
                password=password,
                role=role.label,
                totp_uri=totp_uri,
                recovery_codes=codes,
            )
        )
    return credentials


# --- Managing users in the app (admins: the users pages) -----------------------------------

#: Roles an admin may give from the users pages. Auditors are external and get access per
#: engagement (an engagement's invitation), never a role here.
INTERNAL_ROLES = (Role.ADMIN, Role.COMPLIANCE_MANAGER, Role.ENGINEER)
#: The job that mails a user invitation (named, not imported: jobs import services).
USER_INVITATION_JOB = "pixaudit.accounts.jobs.user_invitation_email_send"
USER_INVITATION_QUEUE = "default"


class UserManagementRefused(Exception):
    """A change the users pages refuse, with the reason to show (never a partial change)."""


def _username_from_email(email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email.split("@", 1)[0])[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _staff_flags(user: User, role: str) -> None:
    # Admins reach the Django admin; nobody else does (a former admin loses it with the role).
    user.is_staff = role == Role.ADMIN
    user.is_superuser = role == Role.ADMIN


def _active_admins_besides(user: User) -> int:
    return User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk).count()


@transaction.atomic
def user_invite(
    *, email: str, role: str, actor: User, username: str = "", request: Any = None
) -> UserInvitation:
    """Create an internal user with no password yet and mail them a link to choose one.

    The e-mail is sent by a job after commit (``accounts.jobs``); the invitation records
    whether it left. Audited ``user.invited``.
    """
    email = User.objects.normalize_email(email.strip()).lower()
    if role not in INTERNAL_ROLES:
        raise ValidationError({"role": "Choose admin, compliance manager or engineer."})
    if not email:
        raise ValidationError({"email": "Enter the person's e-mail address."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "A user with this e-mail address already exists."})
    username = username.strip() or _username_from_email(email)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This username is taken."})
    user = User(username=username, email=email, role=role)
    _staff_flags(user, role)
    user.set_unusable_password()
    user.full_clean()
    user.save()
    invitation = UserInvitation.objects.create(
        user=user,
        email=email,
        # A token nobody ever sees: the link is made (and mailed) by the job.
        token_hash=invitation_token_hash(secrets.token_urlsafe(32)),
        expires_at=timezone.now() + timedelta(days=settings.PIXAUDIT_INVITATION_DAYS),
        invited_by=actor,
    )
    audit_log_record(actor=actor, action="user.invited", obj=user, request=request,
                     email=email, role=role, invitation_id=invitation.pk)  # fmt: skip
    django_rq.get_queue(USER_INVITATION_QUEUE).enqueue(USER_INVITATION_JOB, invitation.pk)
    return invitation


@transaction.atomic
def user_invitation_resend(*, user: User, actor: User, request: Any = None) -> UserInvitation:
    """Mail a new link to someone who has not accepted yet (the previous link stops working);
    an expired invitation gets a new expiry. Audited ``user.invitation_resent``."""
    invitation = (
        UserInvitation.objects.select_for_update().filter(user=user).order_by("-pk").first()
    )
    if invitation is None or invitation.accepted_at is not None or user.has_usable_password():
        raise UserManagementRefused(f"{user.username} has already accepted; nothing to send.")
    if not user.is_active:
        raise UserManagementRefused(f"{user.username} is deactivated: reactivate them first.")
    invitation.email_status = InvitationEmail.QUEUED
    invitation.expires_at = max(
        invitation.expires_at,
        timezone.now() + timedelta(days=settings.PIXAUDIT_INVITATION_DAYS),
    )
    invitation.save(update_fields=["email_status", "expires_at"])
    audit_log_record(actor=actor, action="user.invitation_resent", obj=user, request=request,
                     invitation_id=invitation.pk,
                     previous_attempts=invitation.email_attempts)  # fmt: skip
    django_rq.get_queue(USER_INVITATION_QUEUE).enqueue(USER_INVITATION_JOB, invitation.pk)
    return invitation


def _invitation_message(invitation: UserInvitation, link: str) -> tuple[str, str]:
    org = header_text(settings.PIXAUDIT_ORG_NAME)
    role = Role(invitation.user.role).label.lower()
    return (
        f"{org} invites you to pixaudit",
        f"You have been invited to pixaudit, {org}'s compliance evidence app, as "
        f"{role} (username: {invitation.user.username}).\n\n"
        f"Choose your password here:\n{link}\n\n"
        f"The link works once and ends on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n",
    )


def _invitation_audit(invitation: UserInvitation, error: str) -> None:
    if not error:
        audit_log_record(
            action="user.invitation_email_sent", obj=invitation.user,
            invitation_id=invitation.pk, attempt=invitation.email_attempts,
        )  # fmt: skip
        return
    audit_log_record(action="user.invitation_email_failed", obj=invitation.user,
                     invitation_id=invitation.pk, attempt=invitation.email_attempts,
                     error=error)  # fmt: skip


def user_invitation_email_send(*, invitation_id: int) -> UserInvitation:
    """Mail a pending invitation with a fresh link, recording the outcome on it.

    The new token's hash is stored only if the mail left (it is sent inside the transaction
    that stores it). Never raises for a mail failure: the users page shows it and offers to
    send again. Audited ``user.invitation_email_sent`` / ``user.invitation_email_failed``.
    (``pixaudit.lib.invitation_mail`` sends it, as for auditor invitations.)
    """
    return invitation_mail_send(
        invitations=UserInvitation.objects.select_related("user"),
        invitation_id=invitation_id,
        pending=lambda invitation: invitation.status == "pending" and invitation.user.is_active,
        accept_url="accounts:invitation_accept",
        message=_invitation_message,
        audit=_invitation_audit,
    )


class InvitationUnusable(Exception):
    """The link is unknown, used, expired, or its user was deactivated."""


def user_invitation_for_token(*, token: str) -> UserInvitation:
    """The pending invitation of a link (:class:`InvitationUnusable` otherwise)."""
    invitation = (
        UserInvitation.objects.select_related("user")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None or invitation.status != "pending" or not invitation.user.is_active:
        raise InvitationUnusable(
            "This invitation link is not valid any more (used, expired or replaced by a newer "
            "one). Ask an administrator to send a new one."
        )
    return invitation


@transaction.atomic
def user_invitation_accept(*, token: str, password: str, request: Any = None) -> User:
    """Set the invited user's password (validated) and close the invitation; audited."""
    invitation = user_invitation_for_token(token=token)
    invitation = UserInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != "pending":
        raise InvitationUnusable("This invitation was accepted a moment ago.")
    user = invitation.user
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_log_record(actor=user, action="user.invitation_accepted", obj=user, request=request,
                     invitation_id=invitation.pk)  # fmt: skip
    return user


@transaction.atomic
def user_role_set(*, user: User, role: str, actor: User, request: Any = None) -> User:
    """Give an internal user another role (audited ``user.role_changed`` with both roles).

    Refused: one's own role, an auditor (engagement-scoped), and demoting the last active
    admin. A new admin or compliance manager sets up MFA at the next request.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if role not in INTERNAL_ROLES:
        raise UserManagementRefused("Choose admin, compliance manager or engineer.")
    if user.pk == actor.pk:
        raise UserManagementRefused("You cannot change your own role: ask another admin.")
    if user.role == Role.AUDITOR:
        raise UserManagementRefused(
            "Auditors are external: their access is managed from their engagements."
        )
    if user.role == role:
        return user
    if user.role == Role.ADMIN and user.is_active and not _active_admins_besides(user):
        raise UserManagementRefused("This is the last active admin: make someone else admin first.")
    previous = user.role
    user.role = role
    _staff_flags(user, role)
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    audit_log_record(actor=actor, action="user.role_changed", obj=user, request=request,
                     previous=previous, role=role)  # fmt: skip
    return user


@transaction.atomic
def user_active_set(*, user: User, active: bool, actor: User, request: Any = None) -> User:
    """Deactivate (sign-in refused, open sessions end at their next request) or reactivate.

    Nobody is deleted: people who acted stay in the history. Refused for oneself and for
    the last active admin. Audited ``user.deactivated`` / ``user.reactivated``.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    if user.pk == actor.pk:
        raise UserManagementRefused("You cannot deactivate yourself: ask another admin.")
    if not active and user.role == Role.ADMIN and not _active_admins_besides(user):
        raise UserManagementRefused("This is the last active admin: it cannot be deactivated.")
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        _sessions_end(user)
    audit_log_record(actor=actor, action="user.reactivated" if active else "user.deactivated",
                     obj=user, request=request)  # fmt: skip
    return user


def _sessions_end(user: User) -> None:
    """Remove the user's database sessions now (Django would refuse them at the next
    request anyway, since the user is inactive)."""
    from django.contrib.sessions.models import Session

    key = str(user.pk)
    doomed = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if s.get_decoded().get("_auth_user_id") == key
    ]
    Session.objects.filter(pk__in=doomed).delete()
