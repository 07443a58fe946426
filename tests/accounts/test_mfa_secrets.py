"""MFA secrets stay with their owner: admins reset someone's MFA, never see or add secrets.

Recovery codes are stored as salted PBKDF2 hashes (``pixaudit.accounts.recovery_codes``);
django-otp's admin pages (TOTP keys, QR codes, plain static tokens) are not registered.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.contrib import admin
from django.urls import reverse
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.mfa import demo_mfa_ensure, recovery_codes_regenerate
from pixaudit.accounts.models import RecoveryCode, RecoveryCodeDevice, Role
from pixaudit.auditlog.models import AuditEvent
from tests.security.helpers import PASSWORD, client_for, totp_device_make, user_make

pytestmark = pytest.mark.django_db

CATALOG = "/catalog/"


def _all_text_in_database() -> str:
    """Every text value of the MFA tables, as one string (what a database reader sees)."""
    chunks = []
    for model in (RecoveryCodeDevice, RecoveryCode, StaticDevice, StaticToken, TOTPDevice):
        for row in model.objects.values():
            chunks.extend(str(v) for v in row.values())
    return "\n".join(chunks)


def test_recovery_codes_are_stored_hashed_and_still_work(client):
    user = user_make(Role.COMPLIANCE_MANAGER)
    _uri, codes = demo_mfa_ensure(user=user)
    stored = _all_text_in_database()
    assert len(codes) == 5 and len(set(codes)) == 5
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
    hashes = list(
        RecoveryCode.objects.filter(device__user=user).values_list("code_hash", flat=True)
    )
    assert len(hashes) == 5 and all(h.startswith("pbkdf2_sha256$") for h in hashes)
    assert not StaticToken.objects.exists()
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    response = client.post(reverse("accounts:mfa_verify"), {"token": codes[1].upper()})
    assert response.status_code == 302
    assert RecoveryCode.objects.filter(device__user=user).count() == 4  # used up


def test_existing_plain_recovery_codes_are_migrated_to_hashes(client):
    user = user_make(Role.COMPLIANCE_MANAGER)
    totp_device_make(user)
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    plain = ["abcd2345", "efgh6723"]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=t) for t in plain])
    migration = importlib.import_module("pixaudit.accounts.migrations.0004_recovery_codes_hashed")
    migration.recovery_codes_hash(global_apps, None)  # a data migration: no schema change
    assert not StaticToken.objects.exists() and not StaticDevice.objects.exists()
    stored = _all_text_in_database()
    assert not any(code in stored for code in plain)
    assert RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count() == 2
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    assert client.post(reverse("accounts:mfa_verify"), {"token": "EFGH-6723"}).status_code == 302


def test_the_admin_site_shows_no_mfa_device_and_no_secret():
    registered = set(admin.site._registry)
    leaking = [m.__name__ for m in registered
               if issubclass(m, Device) or m in (StaticToken, RecoveryCode)]  # fmt: skip
    assert not leaking, f"admin pages for MFA secrets: {leaking}"
    target = user_make(Role.ENGINEER)
    totp = totp_device_make(target)
    codes = recovery_codes_regenerate(user=target)
    admin_user = user_make(Role.ADMIN)
    client = client_for(admin_user)
    paths = ("/admin/otp_totp/totpdevice/", "/admin/otp_totp/totpdevice/add/",
             f"/admin/otp_totp/totpdevice/{totp.pk}/change/",
             f"/admin/otp_totp/totpdevice/{totp.pk}/config/",
             "/admin/otp_static/staticdevice/", "/admin/otp_static/staticdevice/add/")  # fmt: skip
    for path in paths:
        assert client.get(path).status_code == 404, path
    page = client.get(reverse("admin:accounts_user_change", args=[target.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Authenticator app" in html and "recovery codes left" in html.lower()
    from base64 import b32encode

    for secret in (totp.key, b32encode(totp.bin_key).decode().rstrip("="), *codes):
        assert secret not in html


def test_admin_resets_someones_mfa_with_confirmation_and_an_audit_event():
    target = user_make(Role.COMPLIANCE_MANAGER)
    totp_device_make(target)
    recovery_codes_regenerate(user=target)
    victim_session = client_for(target)
    assert victim_session.get(CATALOG).status_code == 200
    admin_user = user_make(Role.ADMIN)
    client = client_for(admin_user)
    changelist = reverse("admin:accounts_user_changelist")
    action = {"action": "mfa_reset", "_selected_action": [target.pk]}
    confirm = client.post(changelist, action)
    assert confirm.status_code == 200 and "Reset two-factor" in confirm.content.decode()
    assert TOTPDevice.objects.filter(user=target).exists()  # nothing happens before confirming
    done = client.post(changelist, {**action, "confirm": "yes"})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=target).exists()
    assert not RecoveryCodeDevice.objects.filter(user=target).exists()
    event = AuditEvent.objects.get(action="mfa.reset")
    assert (event.actor_id, event.object_id) == (admin_user.pk, str(target.pk))
    assert event.details == {"totp_devices": 1, "recovery_code_sets": 1, "via": "django-admin"}
    # The reset user's open session lost its verification: enrol again before anything.
    response = victim_session.get(CATALOG)
    assert response["Location"].startswith(reverse("accounts:mfa_enrol"))


def test_admin_cannot_reset_their_own_mfa_here():
    admin_user = user_make(Role.ADMIN)
    client = client_for(admin_user)
    changelist = reverse("admin:accounts_user_changelist")
    action = {"action": "mfa_reset", "_selected_action": [admin_user.pk], "confirm": "yes"}
    response = client.post(changelist, action, follow=True)
    assert "another administrator" in response.content.decode()
    assert TOTPDevice.objects.filter(user=admin_user).exists()
    assert not AuditEvent.objects.filter(action="mfa.reset").exists()
