"""In a real browser: "Run now" returns at once and the run page later says what to do;
an admin invites a user, changes a role and resets MFA; the branded error pages."""

from __future__ import annotations

import re
import socket
import time

import pytest
from django.core import mail
from playwright.sync_api import expect

from pixaudit.accounts.models import Role, User
from pixaudit.accounts.services import user_create
from pixaudit.evidence.models import CollectionRun
from pixaudit.evidence.services import connection_create
from pixaudit.lib import embedded_worker
from tests.jobs.conftest import skip_on_shared_memory_sqlite

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password"


@pytest.fixture
def worker():
    """The embedded default's worker threads, as runserver starts them (pixaudit/wsgi.py)."""
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_now_returns_at_once_and_the_page_later_shows_the_clear_error(
    live_server, page, login, worker, settings
):
    skip_on_shared_memory_sqlite()
    # Retries wait for their backoff on the embedded worker too: keep them short here.
    settings.PIXAUDIT_RETRY_BACKOFF_SECONDS = [1, 2]
    connection_create(
        name="GitHub (unreachable)",
        collector_key="github_org",
        params={"org": "acme", "token": "ghp-test-token-not-real",
                "base_url": f"http://127.0.0.1:{_closed_port()}"},
    )  # fmt: skip
    user_create(username="robin", email="robin@example.com", role=Role.ENGINEER,
                password=PASSWORD)  # fmt: skip
    failed: list[str] = []  # responses >= 400 (the browser's own /favicon.ico aside)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)  # fmt: skip
    login("robin", PASSWORD)
    page.goto(f"{live_server.url}/connections/")
    with page.expect_response(lambda r: r.url.endswith("/run/")) as posted:
        page.get_by_role("button", name=re.compile(r"Run .* now")).first.click()
    timing = posted.value.request.timing
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    # The collector needs over 3 s to give up on the closed port (two retries, 3 s apart);
    # "Run now" answered without waiting for it.
    assert timing["responseStart"] < 2000, f"Run now took {timing['responseStart']:.0f} ms"
    status = page.locator('[data-field="status"]')
    expect(status).to_have_text(re.compile("Queued|Running"))
    # Live progress: the page updates itself (no reload) to the failure and what to do.
    advice = page.locator('[data-field="error_advice"]')
    expect(advice).to_have_text(
        "The GitHub endpoint could not be reached: check network access and the endpoint's "
        "address.",
        timeout=60_000,
    )
    expect(status).to_have_text("Failed")
    expect(page.locator('[data-field="error_message"]')).to_contain_text("network error")
    attempts = page.locator("#run-attempts tbody tr")
    expect(attempts.first).to_contain_text("attempt 1")
    expect(attempts.first).to_contain_text(re.compile(r"\d+(\.\d)? s"))  # a real duration
    expect(attempts).to_have_count(2, timeout=10_000)  # the automatic retry is listed
    assert not failed, failed
    # Let the retries finish before the test database is flushed.
    deadline = time.monotonic() + 90
    while CollectionRun.objects.filter(status__in=("queued", "running")).exists():
        assert time.monotonic() < deadline, "retries did not finish"
        time.sleep(0.5)


def test_admin_invites_a_user_sets_the_role_and_resets_mfa(live_server, page, login):
    user_create(username="ada", email="ada@example.com", role=Role.ADMIN, password=PASSWORD)
    login("ada", PASSWORD)  # enrols ada's authenticator through the real pages
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    page.get_by_role("link", name="Invite a user").click()
    page.get_by_label("E-mail address").fill("jo@example.com")
    page.get_by_role("combobox", name=re.compile("^Role")).select_option("engineer")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("jo")
    expect(page.locator("main")).to_contain_text("is invited")
    assert mail.outbox and mail.outbox[-1].to == ["jo@example.com"]

    page.get_by_role("combobox", name=re.compile("^Role")).select_option("compliance_manager")
    page.get_by_role("button", name="Change the role").click()
    expect(page.locator("main")).to_contain_text("jo is now compliance manager")
    assert User.objects.get(username="jo").role == Role.COMPLIANCE_MANAGER

    page.get_by_role("button", name="Deactivate jo").click()
    expect(page.locator("main")).to_contain_text("jo is deactivated")
    page.get_by_role("link", name="Users").first.click()
    expect(page.locator("table")).to_contain_text("Deactivated")

    # Ada cannot deactivate herself or reset her own MFA from here.
    page.get_by_role("link", name="ada").click()
    expect(page.locator("main")).to_contain_text("You cannot deactivate yourself")
    expect(page.get_by_role("button", name="Reset two-factor authentication")).to_have_count(0)


def test_branded_error_pages(live_server, page, login):
    user_create(username="robin", email="robin@example.com", role=Role.ENGINEER,
                password=PASSWORD)  # fmt: skip
    login("robin", PASSWORD)
    page.goto(f"{live_server.url}/no/such/page/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.goto(f"{live_server.url}/accounts/users/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Access denied")
    # /admin/ for an engineer: one redirect, then the 403 page; never a loop.
    response = page.goto(f"{live_server.url}/admin/")
    assert response.status == 403
    expect(page.locator("main")).to_contain_text("staff accounts only")
