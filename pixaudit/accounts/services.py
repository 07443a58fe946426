"""Writes on users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from pixaudit.accounts.models import Role, User


@dataclass(frozen=True)
class DemoCredential:
    username: str
    password: str
    role: str


def user_create(*, username: str, email: str, role: str, password: str | None) -> User:
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
    return user


@transaction.atomic
def demo_users_ensure() -> list[DemoCredential]:
    """Create (or reset) one demo user per role with a fresh random password.

    Passwords are random on every call so that a demo left running never carries a
    well-known password; the caller prints them.
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
        credentials.append(DemoCredential(username=username, password=password, role=role.label))
    return credentials
