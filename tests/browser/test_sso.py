"""In a real browser: single sign-on through the local OpenID Connect provider on 127.0.0.1
(the one the OIDC tests start) lands signed in with the role its claim maps to; a local
account with MFA still gets the MFA step."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pixaudit.accounts.models import ExternalIdentity, Role, User
from tests.accounts.oidc_provider import CLIENT_ID, CLIENT_SECRET, OIDCProvider, sso_settings_apply
from tests.browser.conftest import _totp_token
from tests.security.helpers import PASSWORD, totp_device_make, user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provider(settings):
    with OIDCProvider(CLIENT_ID, CLIENT_SECRET) as op:
        sso_settings_apply(settings, op)
        yield op


def _sso(page, live_server, provider, **claims):
    provider.claims = claims
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_load_state("networkidle")


def test_sso_signs_in_with_the_role_of_the_claim(page, live_server, provider):
    claims = {"sub": "okta|erin", "email": "erin@example.com", "email_verified": True,
              "preferred_username": "erin", "groups": ["staff", "engineering"]}  # fmt: skip
    _sso(page, live_server, provider, **claims)
    # Through the provider's authorization endpoint and back to the callback, then home.
    assert any(r.startswith("GET /authorize") for r in provider.requests)
    assert "POST /token" in provider.requests
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_text("erin · Engineer")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    user = User.objects.get(username="erin")
    assert user.role == Role.ENGINEER
    assert ExternalIdentity.objects.get(user=user).issuer == provider.issuer

    # An admin whose provider did MFA (amr) needs no local second factor.
    page.context.clear_cookies()
    _sso(page, live_server, provider, sub="u-admin", preferred_username="ada",
         groups=["pixaudit-admins"], amr=["pwd", "mfa"])  # fmt: skip
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_text("ada · Admin")).to_be_visible()
    page.goto(f"{live_server.url}/accounts/users/")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()


def test_sso_manager_without_the_providers_mfa_gets_the_mfa_step(page, live_server, provider):
    _sso(page, live_server, provider, sub="u-mgr", preferred_username="max",
         groups=["compliance"], amr=["pwd"])  # fmt: skip
    expect(page).to_have_url(re.compile(r"/accounts/mfa/enrol/"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    assert User.objects.get(username="max").role == Role.COMPLIANCE_MANAGER


def test_a_local_account_with_mfa_still_gets_the_mfa_step(page, live_server, provider):
    manager = user_make(Role.COMPLIANCE_MANAGER, username="local-mgr")
    device = totp_device_make(manager)
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    page.get_by_label("Username").fill("local-mgr")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    expect(page).to_have_url(re.compile(r"/accounts/mfa/verify/"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    page.get_by_role("textbox", name="Code").fill(_totp_token(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("local-mgr · Compliance manager")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    # The local sign-in never went through the provider (at most its discovery was read).
    assert not [r for r in provider.requests if "well-known" not in r]
