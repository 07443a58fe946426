"""Browser tests: Playwright drives Debian's Chromium against a live test server."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("PIXAUDIT_CHROMIUM", "/usr/bin/chromium")

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there are ordinary synchronous calls, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _totp_token(device) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def login(page, live_server):
    """Log a user in through the real login form; returns the page.

    Handles MFA like a person with an authenticator app would: on the verification step it
    enters the current code of the user's TOTP device; on the enrolment step (admins and
    compliance managers without a device) it confirms the device the page shows, then
    continues past the recovery codes.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def _login(username: str, password: str):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        if "/accounts/mfa/enrol/" in page.url:
            device = TOTPDevice.objects.get(user__username=username, confirmed=False)
            page.get_by_role("textbox", name="Code").fill(_totp_token(device))
            page.get_by_role("button", name="Confirm and continue").click()
            page.wait_for_load_state("networkidle")
            page.get_by_role("link", name="I have saved my codes").click()
            page.wait_for_load_state("networkidle")
        elif "/accounts/mfa/verify/" in page.url:
            device = TOTPDevice.objects.get(user__username=username, confirmed=True)
            page.get_by_role("textbox", name="Code").fill(_totp_token(device))
            page.get_by_role("button", name="Verify").click()
            page.wait_for_load_state("networkidle")
        return page

    return _login
