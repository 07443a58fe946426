from __future__ import annotations

import pytest

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.controls.services import catalogs_load_builtin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_then_browse_and_search_the_catalog(live_server, page, login):
    catalogs_load_builtin()
    user_create(
        username="maria",
        email="maria@example.com",
        role=Role.COMPLIANCE_MANAGER,
        password="a-long-test-password",
    )
    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url

    # A compliance manager must enrol in MFA first: the login helper does it like a person.
    login("maria", "a-long-test-password")
    assert page.get_by_role("heading", level=1).inner_text().strip() != ""
    assert "/accounts/" not in page.url
    # "/" is the posture dashboard now; this test is about the catalog.
    page.goto(live_server.url + "/catalog/")
    page.get_by_role("link", name="SOC 2").first.click()
    assert page.get_by_text("CC6.1").first.is_visible()

    page.get_by_label("Search").fill("cryptography")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    # The ISO catalog is where "cryptography" lives; SOC 2 has no control titled so.
    assert "CC6.1" not in page.locator("main").inner_text()


def test_wrong_password_shows_an_error_and_stays_on_login(live_server, page, login):
    user_create(
        username="eve", email="eve@example.com", role=Role.ENGINEER, password="right-password-123"
    )
    login("eve", "wrong-password-123")
    assert "/accounts/login/" in page.url
    assert page.get_by_role("alert").is_visible()
