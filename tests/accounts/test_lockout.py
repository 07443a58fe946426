"""Sign-in throttling and lockout, sessions, and the audit trail of sign-ins."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from tests.security.helpers import PASSWORD, user_make

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _login(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def test_five_failures_lock_the_username_even_with_the_right_password():
    user = user_make(Role.ENGINEER)
    client = Client()
    for _ in range(4):
        response = _login(client, user.username, "wrong-password-1")
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    response = _login(client, user.username, "wrong-password-1")
    assert "Too many failed sign-in attempts" in response.content.decode()
    response = _login(client, user.username, PASSWORD)
    assert response.status_code == 200
    assert "locked for 15 more minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from another address is unaffected.
    other = user_make(Role.ENGINEER)
    assert _login(Client(REMOTE_ADDR="10.0.0.9"), other.username, PASSWORD).status_code == 302
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions.count("auth.login_failed") == 5
    assert "auth.lockout" in actions and "auth.login_refused" in actions
    lockout = AuditEvent.objects.get(action="auth.lockout")
    assert lockout.ip == "127.0.0.1" and lockout.details["key"] == user.username


def test_lockout_ends_after_fifteen_minutes():
    user = user_make(Role.ENGINEER)
    client = Client()
    for _ in range(5):
        _login(client, user.username, "wrong-password-1")
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert _login(client, user.username, PASSWORD).status_code == 302


def test_many_usernames_from_one_address_lock_the_address(settings):
    settings.PIXAUDIT_LOGIN_MAX_FAILURES_PER_IP = 6
    client = Client(REMOTE_ADDR="203.0.113.7")
    for i in range(6):
        _login(client, f"guess-{i}", "wrong-password-1")
    user = user_make(Role.ENGINEER)
    response = _login(client, user.username, PASSWORD)
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert _login(Client(REMOTE_ADDR="203.0.113.8"), user.username, PASSWORD).status_code == 302


def test_success_clears_the_failure_count():
    user = user_make(Role.ENGINEER)
    for _ in range(4):
        _login(Client(), user.username, "wrong-password-1")
    assert _login(Client(), user.username, PASSWORD).status_code == 302
    for _ in range(4):
        _login(Client(), user.username, "wrong-password-1")
    assert _login(Client(), user.username, PASSWORD).status_code == 302


def test_admin_login_page_redirects_to_the_throttled_login():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/admin/"


def test_auditor_sessions_are_short_and_land_on_engagements():
    auditor = user_make(Role.AUDITOR)
    client = Client()
    response = _login(client, auditor.username, PASSWORD)
    assert response["Location"] == reverse("audits:engagement_list")
    assert client.session.get_expiry_age() == settings.PIXAUDIT_AUDITOR_SESSION_SECONDS == 7200
    engineer_client = Client()
    _login(engineer_client, user_make(Role.ENGINEER).username, PASSWORD)
    assert engineer_client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_login_and_logout_are_audited():
    user = user_make(Role.ENGINEER)
    client = Client(HTTP_USER_AGENT="pytest-agent")
    _login(client, user.username, PASSWORD)
    client.post(reverse("accounts:logout"))
    events = list(AuditEvent.objects.filter(actor_id=user.pk).order_by("id"))
    assert [e.action for e in events][-2:] == ["auth.login", "auth.logout"]
    assert events[-1].user_agent == "pytest-agent" and events[-1].ip == "127.0.0.1"
