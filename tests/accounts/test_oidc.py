"""Single sign-on against a real OpenID Connect provider on 127.0.0.1 (oidc_provider.py).

The whole code flow runs over HTTP: discovery, the authorization redirect, the token
exchange with PKCE, the RS256 signature checked against JWKS, userinfo.
"""

from __future__ import annotations

import pytest
import requests
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from pixaudit.accounts.models import ExternalIdentity, Role, User
from pixaudit.auditlog.models import AuditEvent
from tests.accounts.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    OIDCProvider,
    sso_settings_apply,
)
from tests.security.helpers import PASSWORD, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def op(settings):
    with OIDCProvider(CLIENT_ID, CLIENT_SECRET) as provider:
        sso_settings_apply(settings, provider)
        yield provider


def sso_sign_in(client: Client, op: OIDCProvider, **claims):
    """Follow the code flow: our redirect, the provider's redirect back, our callback."""
    op.claims = claims
    start = client.get(reverse("accounts:oidc_login"))
    assert start.status_code == 302 and start["Location"].startswith(op.issuer + "/authorize")
    back = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302, back.text
    path = back.headers["Location"].removeprefix("http://testserver")
    return client.get(path)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_sign_in_creates_an_engineer_from_the_group_claim(op):
    client = Client()
    response = sso_sign_in(
        client, op, sub="okta|erin", email="Erin@Example.com", email_verified=True,
        preferred_username="erin", groups=["everyone", "engineering"],
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="erin")
    assert user.role == Role.ENGINEER and not user.has_usable_password()
    assert ExternalIdentity.objects.get(user=user).issuer == op.issuer
    assert client.get("/").status_code == 200
    assert "POST /token" in op.requests and "GET /jwks" in op.requests
    created = AuditEvent.objects.get(action="user.created")
    assert created.details["via"] == "oidc"
    assert AuditEvent.objects.filter(action="auth.login", object_id=str(user.pk)).exists()


def test_admin_with_the_providers_mfa_needs_no_local_totp(op):
    client = Client()
    sso_sign_in(client, op, sub="u-admin", preferred_username="ada",
                groups=["pixaudit-admins"], amr=["pwd", "mfa"])  # fmt: skip
    user = User.objects.get(username="ada")
    assert user.role == Role.ADMIN and user.is_staff
    page = client.get("/")
    assert page.status_code == 200 and 'aria-label="Main"' in page.content.decode()


def test_manager_without_the_providers_mfa_still_verifies_totp(op):
    client = Client()
    sso_sign_in(client, op, sub="u-mgr", preferred_username="max",
                groups=["compliance"], amr=["pwd"])  # fmt: skip
    assert User.objects.get(username="max").role == Role.COMPLIANCE_MANAGER
    assert client.get("/")["Location"].startswith(reverse("accounts:mfa_enrol"))


def test_the_role_follows_the_claim_at_every_sign_in(op):
    sso_sign_in(Client(), op, sub="u-1", preferred_username="sam", groups=["engineering"])
    sso_sign_in(Client(), op, sub="u-1", preferred_username="sam", groups=["compliance"])
    user = User.objects.get(username="sam")
    assert user.role == Role.COMPLIANCE_MANAGER
    event = AuditEvent.objects.get(action="user.role_changed")
    assert event.details == {**event.details, "previous": "engineer", "via": "oidc"}
    assert User.objects.filter(external_identities__subject="u-1").count() == 1


def test_no_mapped_role_is_refused_with_a_message(op):
    client = Client()
    response = sso_sign_in(client, op, sub="u-x", preferred_username="xavier", groups=["sales"])
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert not User.objects.filter(username="xavier").exists()
    (message,) = _messages(response)
    assert "no pixaudit role" in message and "groups" in message
    assert AuditEvent.objects.filter(action="auth.login_failed").exists()
    assert client.get("/").status_code == 302  # not signed in


def test_a_token_for_another_client_is_refused(op):
    op.token_overrides = {"aud": "some-other-app"}
    client = Client()
    response = sso_sign_in(client, op, sub="u-aud", preferred_username="mallory",
                           groups=["pixaudit-admins"])  # fmt: skip
    assert response.status_code == 400
    assert not User.objects.filter(username="mallory").exists()


def test_verified_email_links_an_existing_local_account(op):
    local = user_make(Role.ENGINEER, username="lee")
    sso_sign_in(Client(), op, sub="u-lee", email="lee@example.com", email_verified=True,
                preferred_username="lee.sso", groups=["engineering"])  # fmt: skip
    assert ExternalIdentity.objects.get(subject="u-lee").user == local
    # The local password keeps working.
    assert Client().login(username="lee", password=PASSWORD)


def test_a_deactivated_account_is_refused(op):
    sso_sign_in(Client(), op, sub="u-gone", preferred_username="gone", groups=["engineering"])
    User.objects.filter(username="gone").update(is_active=False)
    client = Client()
    response = sso_sign_in(client, op, sub="u-gone", preferred_username="gone",
                           groups=["engineering"])  # fmt: skip
    assert response["Location"] == reverse("accounts:login")
    assert "deactivated" in _messages(response)[0]


def test_local_sign_in_keeps_working_and_keeps_its_mfa_rule(op):
    manager = user_make(Role.COMPLIANCE_MANAGER, username="local-mgr")
    client = Client()
    login = client.post(reverse("accounts:login"), {"username": "local-mgr", "password": PASSWORD})
    assert login.status_code == 302
    assert client.get("/")["Location"].startswith(reverse("accounts:mfa_enrol"))
    assert manager.external_identities.count() == 0
    page = Client().get(reverse("accounts:login")).content.decode()
    assert "Sign in with single sign-on" in page


def test_sso_is_off_without_configuration():
    assert Client().get(reverse("accounts:oidc_login")).status_code == 404
    assert Client().get(reverse("accounts:oidc_callback")).status_code == 404
    assert "Sign in with" not in Client().get(reverse("accounts:login")).content.decode()
