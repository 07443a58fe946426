"""Reads of the accounts app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.models import User, UserInvitation


@dataclass(frozen=True)
class UserRow:
    user: User
    mfa_enrolled: bool
    invited: bool

    @property
    def state(self) -> str:
        """active, invited (no password chosen yet) or deactivated."""
        if not self.user.is_active:
            return "deactivated"
        return "invited" if self.invited else "active"


def user_queryset() -> QuerySet[User]:
    totp = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    pending = UserInvitation.objects.filter(user=OuterRef("pk"), accepted_at__isnull=True)
    return User.objects.annotate(mfa_enrolled=Exists(totp), invited=Exists(pending)).order_by(
        "-is_active", "username"
    )


def user_rows() -> list[UserRow]:
    """Every user with MFA and invitation state, in one query (active users first)."""
    return [UserRow(u, u.mfa_enrolled, u.invited and not u.has_usable_password())
            for u in user_queryset()]  # fmt: skip
