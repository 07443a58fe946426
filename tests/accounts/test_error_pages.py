"""Branded 404, 403 and 500 pages, navigation hidden until MFA is complete, no admin loop."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from pixaudit.accounts.models import Role
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer(django_user_model):
    return django_user_model.objects.create_user(
        username="eng", password="unused-pass-123", role=Role.ENGINEER
    )


def test_404_is_branded_and_says_where_to_go(engineer):
    response = client_for(engineer, verified=False).get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and "pixaudit" in body
    assert 'aria-label="Main"' in body  # an engineer (no MFA needed) has the navigation


def test_404_hides_navigation_until_mfa_is_complete(django_user_model):
    manager = django_user_model.objects.create_user(
        username="mgr", password="unused-pass-123", role=Role.COMPLIANCE_MANAGER
    )
    client = Client()
    client.force_login(manager)
    # A manager without MFA is sent to enrolment from every page; an address that resolves
    # to no view still answers 404, and shows no navigation either.
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'aria-label="Main"' not in body and "two-factor authentication needed" in body
    page = client.get("/accounts/mfa/enrol/").content.decode()
    assert 'aria-label="Main"' not in page and "Sign out" in page


def test_403_is_branded_and_names_the_reason(engineer):
    response = client_for(engineer, verified=False).get("/audit-log/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Access denied" in body and "ask an administrator" in body


def test_500_renders_without_a_request_context():
    request = RequestFactory().get("/")
    response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body and "pixaudit" in body


def test_csrf_failure_is_branded(engineer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def _follow(client: Client, path: str, limit: int = 6) -> list[tuple[int, str]]:
    hops = []
    for _ in range(limit):
        response = client.get(path)
        hops.append((response.status_code, path))
        if response.status_code != 302:
            return hops
        path = response["Location"]
    raise AssertionError(f"redirect loop: {hops}")


def test_admin_never_loops_for_an_engineer(engineer):
    hops = _follow(client_for(engineer, verified=False), "/admin/")
    assert hops[-1][0] == 403, hops


def test_admin_sends_anonymous_visitors_to_the_one_sign_in_page():
    hops = _follow(Client(), "/admin/")
    assert hops[-1] == (200, "/accounts/login/?next=/admin/"), hops


def test_admin_is_open_to_verified_staff(django_user_model):
    admin_user = django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password="unused-pass-123"
    )
    client = client_for(admin_user)
    hops = _follow(client, "/admin/")
    assert hops[-1] == (200, "/admin/"), hops
    assert client.get("/admin/login/?next=/admin/accounts/user/")["Location"] == (
        "/admin/accounts/user/"
    )
