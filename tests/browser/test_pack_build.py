"""In a real browser: "Build the evidence pack" returns at once, the build page shows the
progress by itself, then offers the stored ZIP for download."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from playwright.sync_api import expect

from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.lib import embedded_worker
from pixaudit.reports import services_packs
from pixaudit.reports.models import PackBuild
from tests.jobs.conftest import skip_on_shared_memory_sqlite
from tests.reports.conftest import catalogs, collected, scope, soc2, stored_report  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password"


@pytest.fixture
def worker():
    """The embedded default's worker threads, as runserver starts them (pixaudit/wsgi.py)."""
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


def test_build_returns_at_once_shows_progress_then_the_download(
    live_server,
    page,
    login,
    worker,
    stored_report,  # noqa: F811
    monkeypatch,
):
    skip_on_shared_memory_sqlite()
    real_build = services_packs.pack_build

    def slow_build(**kwargs):  # a year of evidence takes minutes to pack
        kwargs["progress"](40, "Packed CC6.1")
        time.sleep(4)
        return real_build(**kwargs)

    monkeypatch.setattr(services_packs, "pack_build", slow_build)
    user_create(username="morgan", email="morgan@example.com", role=Role.COMPLIANCE_MANAGER,
                password=PASSWORD)  # fmt: skip
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)  # fmt: skip
    login("morgan", PASSWORD)
    page.goto(f"{live_server.url}/reports/{stored_report.pk}/")
    with page.expect_response(lambda r: r.url.endswith("/packs/")) as posted:
        page.get_by_role("button", name="Build the evidence pack (ZIP)").click()
    timing = posted.value.request.timing
    page.wait_for_url(re.compile(r"/reports/packs/\d+/$"))
    assert timing["responseStart"] < 2000, f"the build request took {timing['responseStart']} ms"
    status = page.locator('#pack-status [data-field="status"]')
    expect(status).to_have_text(re.compile("Queued|Building"))
    # Live progress, without reloading the page.
    expect(page.locator('#pack-status [data-field="progress_message"]')).to_have_text(
        "Packed CC6.1", timeout=30_000
    )
    download_link = page.get_by_test_id("pack-download")
    expect(download_link).to_be_visible(timeout=60_000)
    expect(status).to_have_text("Ready")
    build = PackBuild.objects.get()
    with page.expect_download() as info:
        download_link.click()
    data = open(info.value.path(), "rb").read()
    assert hashlib.sha256(data).hexdigest() == build.sha256 and len(data) == build.size
    assert info.value.suggested_filename.endswith("-evidence-pack.zip")
    assert not failed, failed
