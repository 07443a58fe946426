"""MFA services on top of django-otp: TOTP devices and one-time recovery codes.

A user is *enrolled* when they have a confirmed ``TOTPDevice``; recovery codes live in one
``StaticDevice`` per user. A session is *verified* when django-otp's ``login`` stored the
device that accepted a token (``request.user.is_verified()``). Admins and compliance managers
must be enrolled and verified (``MFAEnforcementMiddleware``); other roles verify once they
have chosen to enrol.
"""

from __future__ import annotations

import re

import segno
from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import MFA_REQUIRED
from pixaudit.auditlog.services import audit_log_record

__all__ = [
    "MFA_SESSION_KEY",
    "RECOVERY_CODE_COUNT",
    "mfa_enrol_confirm",
    "mfa_is_enrolled",
    "mfa_required_for",
    "mfa_verify",
    "recovery_codes_regenerate",
    "recovery_codes_remaining",
    "totp_device_pending",
    "totp_qr_data_uri",
    "totp_secret_b32",
]

#: Session flag set at login: the user has MFA and must verify even if the role does not.
MFA_SESSION_KEY = "pixaudit_mfa_enrolled"
RECOVERY_CODE_COUNT = 10
_TOTP_NAME = "Authenticator app"
_STATIC_NAME = "Recovery codes"


def mfa_required_for(user: User) -> bool:
    """Admins and compliance managers (by role; see MFA_REQUIRED), and anyone who can reach
    the Django admin (a ``createsuperuser`` account is admin access whatever its role)."""
    return user.role in MFA_REQUIRED or user.is_superuser or user.is_staff


def mfa_is_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device (created on first call, same secret after)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_TOTP_NAME, confirmed=False)
    return device


def totp_qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// URI as an SVG QR code in a data: URI (the CSP allows data: images)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def totp_secret_b32(device: TOTPDevice) -> str:
    """The secret for manual entry, base32 in groups of four."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _session_elevate(request: HttpRequest, device: Device) -> None:
    """Mark the session verified under a new session key (no fixation across the MFA step)."""
    otp_login(request, device)
    request.session.cycle_key()


def _normalise_token(token: str) -> str:
    return re.sub(r"[\s-]", "", token or "").lower()


@transaction.atomic
def recovery_codes_regenerate(
    *, user: User, request: HttpRequest | None = None, count: int = RECOVERY_CODE_COUNT
) -> list[str]:
    """Replace the user's recovery codes; the returned codes are shown once, never again."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=_STATIC_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(count)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    audit_log_record(action="mfa.recovery_codes_generated", obj=user, request=request,
                     count=count)  # fmt: skip
    return codes


def recovery_codes_remaining(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def mfa_enrol_confirm(
    *, user: User, device: TOTPDevice, token: str, request: HttpRequest
) -> list[str] | None:
    """Confirm ``device`` with a first token; return fresh recovery codes, or None if wrong.

    On success the session is verified with the new device and any older TOTP device of
    the user is removed (one authenticator per user).
    """
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if device.confirmed or not device.verify_token(_normalise_token(token)):
        audit_log_record(action="mfa.enrol_failed", obj=user, request=request)
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_regenerate(user=user, request=request)
    _session_elevate(request, device)
    request.session[MFA_SESSION_KEY] = True
    audit_log_record(action="mfa.enrolled", obj=user, request=request)
    return codes


def mfa_verify(*, user: User, token: str, request: HttpRequest) -> Device | None:
    """Check a TOTP token or a recovery code; on success verify the session."""
    token = _normalise_token(token)
    if not token:
        return None
    device: Device | None = None
    method = ""
    with transaction.atomic():
        for candidate in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if token.isdigit() and candidate.verify_token(token):
                device, method = candidate, "totp"
                break
        if device is None:
            for candidate in StaticDevice.objects.select_for_update().filter(
                user=user, confirmed=True
            ):
                if candidate.verify_token(token):
                    device, method = candidate, "recovery_code"
                    break
    if device is None:
        audit_log_record(action="mfa.failed", obj=user, request=request)
        return None
    _session_elevate(request, device)
    details = {"method": method}
    if method == "recovery_code":
        details["recovery_codes_left"] = recovery_codes_remaining(user=user)
    audit_log_record(action="mfa.verified", obj=user, request=request, **details)
    return device


@transaction.atomic
def demo_mfa_ensure(*, user: User) -> tuple[str, list[str]]:
    """Pre-enrol a demo user: a confirmed TOTP device and fresh recovery codes.

    Returns ``(otpauth URI, recovery codes)`` for ``manage.py demo`` to print.
    """
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=_TOTP_NAME, confirmed=True)
    codes = recovery_codes_regenerate(user=user, count=5)
    return device.config_url, codes
