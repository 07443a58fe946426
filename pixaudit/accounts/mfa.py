"""MFA services on top of django-otp: TOTP devices and one-time recovery codes.

A user is *enrolled* when they have a confirmed ``TOTPDevice``; recovery codes live in one
``RecoveryCodeDevice`` per user, stored hashed (``recovery_codes``). A session is *verified*
when django-otp's ``login`` stored the device that accepted a token
(``request.user.is_verified()``). Admins and compliance managers must be enrolled and
verified (``MFAEnforcementMiddleware``); other roles verify once they have chosen to enrol.

django-otp throttles a device after a wrong token (1 s, then 2 s, 4 s ... before the next
try is even checked); a try inside that delay raises :class:`MFAThrottled`, which says how
long to wait, instead of failing like a wrong code. Secrets never leave their owner: admins
can only reset someone's MFA (:func:`mfa_reset`), audited.
"""

from __future__ import annotations

import math
from datetime import datetime

import segno
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.models import RecoveryCode, RecoveryCodeDevice, User
from pixaudit.accounts.permissions import MFA_REQUIRED
from pixaudit.accounts.recovery_codes import (
    recovery_code_generate,
    recovery_code_hash,
    recovery_code_normalise,
)
from pixaudit.auditlog.services import audit_log_record

__all__ = [
    "MFA_SESSION_KEY",
    "RECOVERY_CODE_COUNT",
    "MFAResetRefused",
    "MFAThrottled",
    "mfa_enrol_confirm",
    "mfa_is_enrolled",
    "mfa_pending",
    "mfa_required_for",
    "mfa_reset",
    "mfa_status",
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
_RECOVERY_NAME = "Recovery codes"


class MFAThrottled(Exception):
    """A code was tried before django-otp's delay after a wrong one had passed."""

    def __init__(self, locked_until: datetime, now: datetime | None = None) -> None:
        remaining = (locked_until - (now or timezone.now())).total_seconds()
        self.seconds = max(1, math.ceil(remaining))
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.seconds < 120:
            wait = f"{self.seconds} second{'s' if self.seconds != 1 else ''}"
        else:
            wait = f"{math.ceil(self.seconds / 60)} minutes"
        return (
            f"Too soon after a wrong code: wait {wait}, then enter the code your app shows "
            "at that time. Nothing was checked."
        )


class MFAResetRefused(Exception):
    """The reset is not allowed (e.g. an admin resetting their own MFA)."""


def mfa_required_for(user: User) -> bool:
    """Admins and compliance managers (by role; see MFA_REQUIRED), and anyone who can reach
    the Django admin (a ``createsuperuser`` account is admin access whatever its role)."""
    return user.role in MFA_REQUIRED or user.is_superuser or user.is_staff


def mfa_is_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


#: Session flag: signed in by single sign-on whose token named a second factor (``amr``);
#: set by ``pixaudit.accounts.oidc`` after the sign-in, cleared by every new sign-in.
SSO_MFA_SESSION_KEY = "pixaudit_sso_mfa"


def mfa_satisfied(request: HttpRequest) -> bool:
    """True when this session passed a second factor: TOTP or recovery code here, or the
    identity provider's (single sign-on). Password sign-ins always need the local one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    session = getattr(request, "session", None)
    return user.is_verified() or bool(session is not None and session.get(SSO_MFA_SESSION_KEY))


def mfa_pending(request: HttpRequest) -> bool:
    """True while a signed-in user still has to enrol or verify before using the app."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or mfa_satisfied(request):
        return False
    return mfa_required_for(user) or bool(request.session.get(MFA_SESSION_KEY))


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


def _throttle_check(device: Device) -> None:
    allowed, data = device.verify_is_allowed()
    if not allowed and data and data.get("locked_until"):
        raise MFAThrottled(data["locked_until"])


@transaction.atomic
def recovery_codes_regenerate(
    *, user: User, request: HttpRequest | None = None, count: int = RECOVERY_CODE_COUNT
) -> list[str]:
    """Replace the user's recovery codes; the returned codes are shown once, never again.

    Only their salted hashes are stored.
    """
    RecoveryCodeDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()  # plain codes of older versions
    device = RecoveryCodeDevice.objects.create(user=user, name=_RECOVERY_NAME, confirmed=True)
    codes = [recovery_code_generate() for _ in range(count)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(device=device, code_hash=recovery_code_hash(c)) for c in codes]
    )
    audit_log_record(action="mfa.recovery_codes_generated", obj=user, request=request,
                     count=count)  # fmt: skip
    return codes


def recovery_codes_remaining(*, user: User) -> int:
    return RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def mfa_enrol_confirm(
    *, user: User, device: TOTPDevice, token: str, request: HttpRequest
) -> list[str] | None:
    """Confirm ``device`` with a first token; return fresh recovery codes, or None if wrong.

    On success the session is verified with the new device and any older TOTP device of
    the user is removed (one authenticator per user). Raises :class:`MFAThrottled` when
    the previous wrong code was too recent.
    """
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if not device.confirmed:
        _throttle_check(device)
    if device.confirmed or not device.verify_token(recovery_code_normalise(token)):
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


def _verify_candidates(user: User, token: str):
    """The devices a token can belong to: digits are TOTP codes, anything else a recovery
    code (recovery codes are 8 or 16 characters with letters)."""
    if token.isdigit():
        return "totp", TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
    return "recovery_code", RecoveryCodeDevice.objects.select_for_update().filter(
        user=user, confirmed=True
    )


def mfa_verify(*, user: User, token: str, request: HttpRequest) -> Device | None:
    """Check a TOTP token or a recovery code; on success verify the session.

    Returns the device that accepted the token, or None for a wrong one. Raises
    :class:`MFAThrottled` (nothing checked, audited as ``mfa.throttled``) when the previous
    wrong code was too recent.
    """
    token = recovery_code_normalise(token)
    if not token:
        return None
    device: Device | None = None
    throttled: MFAThrottled | None = None
    with transaction.atomic():
        method, candidates = _verify_candidates(user, token)
        for candidate in candidates:
            try:
                _throttle_check(candidate)
            except MFAThrottled as exc:
                throttled = exc
                continue
            if candidate.verify_token(token):
                device = candidate
                break
    if device is None and throttled is not None:
        audit_log_record(action="mfa.throttled", obj=user, request=request, method=method,
                         wait_seconds=throttled.seconds)  # fmt: skip
        raise throttled
    if device is None:
        audit_log_record(action="mfa.failed", obj=user, request=request)
        return None
    _session_elevate(request, device)
    details = {"method": method}
    if method == "recovery_code":
        details["recovery_codes_left"] = recovery_codes_remaining(user=user)
    audit_log_record(action="mfa.verified", obj=user, request=request, **details)
    return device


def mfa_status(*, user: User) -> dict[str, object]:
    """What an admin may know about someone's MFA: whether it is set up, never a secret."""
    totp = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()
    return {
        "enrolled": totp is not None,
        "last_used_at": totp.last_used_at if totp is not None else None,
        "recovery_codes_left": recovery_codes_remaining(user=user),
    }


@transaction.atomic
def mfa_reset(*, user: User, actor: User, request: HttpRequest | None = None,
              via: str = "") -> dict[str, int]:  # fmt: skip
    """Remove ``user``'s authenticator and recovery codes (audited as ``mfa.reset``).

    The user enrols again at the next request (roles that require MFA) or may enrol again
    (others); sessions verified with the removed device are no longer verified. An admin
    cannot reset their own MFA this way (:class:`MFAResetRefused`): another admin does it.
    """
    if actor is not None and actor.pk == user.pk:
        raise MFAResetRefused(
            "You cannot reset your own two-factor authentication: ask another administrator."
        )
    removed = {
        "totp_devices": TOTPDevice.objects.filter(user=user).count(),
        "recovery_code_sets": RecoveryCodeDevice.objects.filter(user=user).count(),
    }
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCodeDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    extra = {"via": via} if via else {}
    audit_log_record(actor=actor, action="mfa.reset", obj=user, request=request,
                     **removed, **extra)  # fmt: skip
    return removed


@transaction.atomic
def demo_mfa_ensure(*, user: User) -> tuple[str, list[str]]:
    """Pre-enrol a demo user: a confirmed TOTP device and fresh recovery codes.

    Returns ``(otpauth URI, recovery codes)`` for ``manage.py demo`` to print.
    """
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=_TOTP_NAME, confirmed=True)
    codes = recovery_codes_regenerate(user=user, count=5)
    return device.config_url, codes
