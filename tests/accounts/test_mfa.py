"""MFA: enforcement for admins and compliance managers, enrolment, verification, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.models import RecoveryCode, Role
from pixaudit.accounts.recovery_codes import recovery_code_matches
from pixaudit.accounts.services import demo_users_ensure
from pixaudit.auditlog.models import AuditEvent
from tests.security.helpers import PASSWORD, client_for, totp_device_make, totp_now, user_make

pytestmark = pytest.mark.django_db

CATALOG = "/catalog/"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE_MANAGER])
def test_required_roles_without_device_are_sent_to_enrolment_everywhere(role):
    client = client_for(user_make(role), verified=False)
    for url in (CATALOG, reverse("audits:engagement_list"), reverse("accounts:mfa_settings")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:mfa_enrol"))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE_MANAGER])
def test_required_roles_with_device_must_verify(role):
    user = user_make(role)
    totp_device_make(user)
    client = client_for(user, verified=False)
    response = client.get(CATALOG)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:mfa_verify')}?next=%2Fcatalog%2F"
    # A password-only session cannot replace the enrolled device.
    response = client.get(reverse("accounts:mfa_enrol"))
    assert response["Location"] == reverse("accounts:mfa_verify")


def test_django_admin_is_behind_mfa_too():
    user = user_make(Role.ADMIN)
    client = client_for(user, verified=False)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa_enrol"))
    assert client_for(user).get("/admin/").status_code == 200


def test_engineer_without_mfa_is_not_asked():
    client = client_for(user_make(Role.ENGINEER), verified=False)
    assert client.get(CATALOG).status_code == 200


def test_engineer_who_enrolled_must_verify_at_next_login(client):
    user = user_make(Role.ENGINEER)
    totp_device_make(user)
    assert client.post(reverse("accounts:login"), {"username": user.username,
                       "password": PASSWORD}).status_code == 302  # fmt: skip
    response = client.get(CATALOG)
    assert response["Location"].startswith(reverse("accounts:mfa_verify"))


def test_enrolment_flow_shows_qr_and_recovery_codes_once():
    user = user_make(Role.COMPLIANCE_MANAGER)
    client = client_for(user, verified=False)
    page = client.get(reverse("accounts:mfa_enrol") + "?next=/catalog/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html
    assert "<script" not in html and "style=" not in html
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post(reverse("accounts:mfa_enrol"), {"token": "000000", "next": "/catalog/"})
    assert wrong.status_code == 200 and 'aria-invalid="true"' in wrong.content.decode()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    done = client.post(
        reverse("accounts:mfa_enrol"), {"token": totp_now(device), "next": "/catalog/"}
    )
    assert done.status_code == 200
    codes = list(done.context["codes"])
    assert len(codes) == 10
    hashes = list(
        RecoveryCode.objects.filter(device__user=user).values_list("code_hash", flat=True)
    )
    assert len(hashes) == 10 and not set(hashes) & set(codes)  # stored hashed, never plain
    assert all(any(recovery_code_matches(c, h) for h in hashes) for c in codes)
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(CATALOG).status_code == 200  # the session is verified
    actions = list(AuditEvent.objects.filter(actor_id=user.pk).values_list("action", flat=True))
    assert "mfa.enrolled" in actions and "mfa.enrol_failed" in actions


def test_password_login_then_totp_verification(client):
    user = user_make(Role.ADMIN)
    device = totp_device_make(user)
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    response = client.get(CATALOG)
    assert response["Location"].startswith(reverse("accounts:mfa_verify"))
    bad = client.post(reverse("accounts:mfa_verify"), {"token": "123456", "next": CATALOG})
    assert bad.status_code == 200
    assert "not valid" in bad.content.decode()
    # TOTP throttling delays the next try after a failure; reset it as time would.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    good = client.post(reverse("accounts:mfa_verify"), {"token": totp_now(device), "next": CATALOG})
    assert good.status_code == 302 and good["Location"] == CATALOG
    assert client.get(CATALOG).status_code == 200
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "auth.login", "mfa.failed", "mfa.verified"
    }  # fmt: skip


def test_recovery_code_works_once(client):
    user = user_make(Role.COMPLIANCE_MANAGER)
    from pixaudit.accounts.mfa import demo_mfa_ensure

    _uri, codes = demo_mfa_ensure(user=user)
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    response = client.post(reverse("accounts:mfa_verify"), {"token": codes[0], "next": CATALOG})
    assert response.status_code == 302
    assert client.get(CATALOG).status_code == 200
    other = client_for(None)
    other.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    reused = other.post(reverse("accounts:mfa_verify"), {"token": codes[0]})
    assert reused.status_code == 200  # refused: the code was consumed
    event = AuditEvent.objects.filter(action="mfa.verified").first()
    assert event.details == {"method": "recovery_code", "recovery_codes_left": 4}


def test_regenerate_recovery_codes_requires_verified_session():
    user = user_make(Role.ENGINEER)
    totp_device_make(user)
    client = client_for(user)
    response = client.post(reverse("accounts:mfa_recovery_codes_regenerate"))
    assert response.status_code == 200
    assert len(response.context["codes"]) == 10


def test_demo_users_are_usable_without_a_phone(client):
    credentials = {c.username: c for c in demo_users_ensure()}
    manager = credentials["demo-compliance-manager"]
    assert manager.totp_uri.startswith("otpauth://totp/")
    assert len(manager.recovery_codes) == 5
    assert credentials["demo-engineer"].recovery_codes == ()
    client.post(reverse("accounts:login"), {"username": manager.username,
                                            "password": manager.password})  # fmt: skip
    response = client.post(reverse("accounts:mfa_verify"), {"token": manager.recovery_codes[0]})
    assert response.status_code == 302
    assert client.get(CATALOG).status_code == 200


def test_a_second_code_too_soon_says_how_long_to_wait(client):
    """django-otp throttles after a failure (1 s, then 2, 4 ...): say so, not "not valid"."""
    user = user_make(Role.ADMIN)
    device = totp_device_make(user)
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        bad = client.post(reverse("accounts:mfa_verify"), {"token": "000000", "next": CATALOG})
        assert "not valid" in bad.content.decode()
        good = totp_now(device)
        early = client.post(reverse("accounts:mfa_verify"), {"token": good, "next": CATALOG})
        page = early.content.decode()
        assert early.status_code == 200 and "not valid" not in page
        assert "wait 1 second" in page
    with time_machine.travel(now + timedelta(seconds=1.5), tick=False):
        late = client.post(reverse("accounts:mfa_verify"), {"token": good, "next": CATALOG})
        assert late.status_code == 302 and late["Location"] == CATALOG


def test_mfa_pages_hide_the_navigation_until_verified(client):
    user = user_make(Role.COMPLIANCE_MANAGER)
    device = totp_device_make(user)
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    page = client.get(reverse("accounts:mfa_verify")).content.decode()
    assert 'aria-label="Main"' not in page and reverse("dashboard:control_list") not in page
    assert "Sign out" in page
    other = user_make(Role.ADMIN)
    enrol = client_for(other, verified=False).get(reverse("accounts:mfa_enrol")).content.decode()
    assert 'aria-label="Main"' not in enrol and "Sign out" in enrol
    client.post(reverse("accounts:mfa_verify"), {"token": totp_now(device)})
    assert 'aria-label="Main"' in client.get(CATALOG).content.decode()
