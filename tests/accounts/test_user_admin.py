"""Admins manage users in the app: invite by e-mail, set role, deactivate, reset MFA."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from pixaudit.accounts.models import Role, User, UserInvitation
from pixaudit.accounts.services import (
    UserManagementRefused,
    user_active_set,
    user_invite,
    user_role_set,
)
from pixaudit.auditlog.models import AuditEvent
from tests.security.helpers import PASSWORD, client_for, totp_device_make, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return user_make(Role.ADMIN)


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


def _link(message) -> str:
    """The path of the invitation link in a mail."""
    return re.search(r"https?://[^/\s]+(/accounts/invitation/\S+/)", message.body).group(1)


def test_invite_by_email_then_the_person_chooses_a_password(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the mail job runs at commit
        response = admin_client.post(
            reverse("accounts:user_invite"),
            {"email": "Dana.Lee@Example.com", "role": "compliance_manager"},
        )
    user = User.objects.get(email="dana.lee@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:user_detail", args=[user.pk])
    assert user.username == "dana.lee" and user.role == "compliance_manager"
    assert not user.has_usable_password()
    invitation = UserInvitation.objects.get(user=user)
    assert invitation.email_status == "sent" and invitation.email_attempts == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dana.lee@example.com"]
    link = _link(mail.outbox[0])
    page = admin_client.get(reverse("accounts:user_detail", args=[user.pk])).content.decode()
    assert "Sent" in page and "Send the invitation again" in page

    visitor = Client()
    form = visitor.get(link)
    assert form.status_code == 200 and "dana.lee" in form.content.decode()
    weak = visitor.post(link, {"password1": "short", "password2": "short"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    done = visitor.post(link, {"password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    # A manager must set up MFA before anything else: the rules apply to invited users too.
    assert visitor.get("/")["Location"].startswith(reverse("accounts:mfa_enrol"))
    # The link works once.
    assert Client().get(link).status_code == 404
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"user.invited", "user.invitation_email_sent", "user.invitation_accepted"} <= actions


def test_resend_makes_a_new_link_and_the_old_one_stops_working(
    admin_client, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = user_invite(email="sam@example.com", role="engineer", actor=admin_user)
    old = _link(mail.outbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("accounts:user_invitation_resend", args=[invitation.user.pk])
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 2
    new = _link(mail.outbox[1])
    assert new != old
    assert Client().get(old).status_code == 404
    assert Client().get(new).status_code == 200


def test_a_failed_mail_is_recorded_and_shown(
    admin_client, admin_user, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.accounts.test_user_admin.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        invitation = user_invite(email="kim@example.com", role="engineer", actor=admin_user)
    invitation.refresh_from_db()
    assert invitation.email_status == "failed"
    assert "SMTP server refused" in invitation.email_error
    page = admin_client.get(reverse("accounts:user_detail", args=[invitation.user.pk]))
    assert "SMTP server refused" in page.content.decode()


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("SMTP server refused the connection")


def test_invite_refuses_duplicates_and_auditor_role(admin_client, admin_user):
    user_make(Role.ENGINEER, username="taken")
    response = admin_client.post(
        reverse("accounts:user_invite"), {"email": "taken@example.com", "role": "engineer"}
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    response = admin_client.post(
        reverse("accounts:user_invite"), {"email": "x@example.com", "role": "auditor"}
    )
    assert response.status_code == 400
    assert not User.objects.filter(email="x@example.com").exists()


def test_set_role_gives_and_takes_admin_access(admin_client):
    engineer = user_make(Role.ENGINEER)
    admin_client.post(reverse("accounts:user_role", args=[engineer.pk]), {"role": "admin"})
    engineer.refresh_from_db()
    assert engineer.role == "admin" and engineer.is_staff and engineer.is_superuser
    admin_client.post(reverse("accounts:user_role", args=[engineer.pk]), {"role": "engineer"})
    engineer.refresh_from_db()
    assert engineer.role == "engineer" and not engineer.is_staff and not engineer.is_superuser
    event = AuditEvent.objects.filter(action="user.role_changed").order_by("-pk").first()
    assert event.details["previous"] == "admin" and event.details["role"] == "engineer"


def test_refusals_keep_an_admin_in_charge(admin_user):
    with pytest.raises(UserManagementRefused, match="your own role"):
        user_role_set(user=admin_user, role="engineer", actor=admin_user)
    with pytest.raises(UserManagementRefused, match="deactivate yourself"):
        user_active_set(user=admin_user, active=False, actor=admin_user)
    other = user_make(Role.ADMIN)
    # The other admin may demote this one while another active admin remains...
    user_role_set(user=admin_user, role="engineer", actor=other)
    # ...but not the last one.
    with pytest.raises(UserManagementRefused, match="last active admin"):
        user_active_set(user=other, active=False, actor=admin_user)
    auditor = user_make(Role.AUDITOR)
    with pytest.raises(UserManagementRefused, match="engagements"):
        user_role_set(user=auditor, role="engineer", actor=other)


def test_deactivate_ends_sessions_and_sign_in(admin_client):
    engineer = user_make(Role.ENGINEER)
    theirs = Client()
    theirs.force_login(engineer)
    assert theirs.get("/").status_code == 200
    response = admin_client.post(
        reverse("accounts:user_active", args=[engineer.pk]), {"active": "0"}
    )
    assert response.status_code == 302
    assert theirs.get("/").status_code == 302  # signed out
    assert not Client().login(username=engineer.username, password=PASSWORD)
    page = admin_client.get(reverse("accounts:user_list")).content.decode()
    assert "Deactivated" in page
    admin_client.post(reverse("accounts:user_active", args=[engineer.pk]), {"active": "1"})
    assert Client().login(username=engineer.username, password=PASSWORD)
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "user.deactivated" in actions and "user.reactivated" in actions


def test_mfa_reset_is_audited_and_never_shows_a_secret(admin_client):
    manager = user_make(Role.COMPLIANCE_MANAGER)
    device = totp_device_make(manager)
    page = admin_client.get(reverse("accounts:user_detail", args=[manager.pk])).content.decode()
    assert "Set up" in page
    assert device.key not in page and device.config_url not in page
    # Without the confirmation nothing happens.
    admin_client.post(reverse("accounts:user_mfa_reset", args=[manager.pk]))
    assert type(device).objects.filter(user=manager).exists()
    admin_client.post(reverse("accounts:user_mfa_reset", args=[manager.pk]), {"confirm": "yes"})
    assert not type(device).objects.filter(user=manager).exists()
    event = AuditEvent.objects.get(action="mfa.reset")
    assert event.details["via"] == "users-page"


def test_users_pages_are_for_admins_only():
    manager = user_make(Role.COMPLIANCE_MANAGER)
    totp_device_make(manager)
    assert client_for(manager).get(reverse("accounts:user_list")).status_code == 403
    assert (
        client_for(user_make(Role.ENGINEER), verified=False)
        .get(reverse("accounts:user_list"))
        .status_code
        == 403
    )
