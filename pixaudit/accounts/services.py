"""Writes on users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.db import transaction

from pixaudit.accounts.models import Role, User
from pixaudit.accounts.permissions import MFA_REQUIRED
from pixaudit.auditlog.services import audit_log_record


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
