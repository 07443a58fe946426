"""Layout at a laptop width: wide evidence text wraps instead of hiding columns (issue 12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Severity,
    Status,
    assertion,
    registry,
)
from pixaudit.accounts.models import Role
from pixaudit.accounts.services import user_create
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1440, "height": 900}


def _s3_remediation() -> str:
    # The real text that was cut off: shell commands and inline JSON without spaces.
    registry.discover()
    cls = registry.get("aws_s3_buckets")
    return next(a.remediation for a in cls.assertions if a.id.endswith(".default_encryption"))


class WideBuckets(Collector):
    """Test collector: resources named like real ARNs, remediation copied from S3's."""

    key = "testsrc_widebuckets"
    title = "Test buckets with long names"
    version = 1
    permissions = ("test:ListBuckets",)
    columns = (Column("arn", "string", "Bucket ARN"),)
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        return [
            {"arn": f"arn:aws:s3:::pixmuse-production-customer-uploads-eu-west-1-replica-{i:04d}"}
            for i in range(3)
        ]

    @assertion(
        "testsrc_widebuckets.default_encryption_configuration_applied",
        title="Buckets encrypt new objects by default",
        severity=Severity.HIGH,
        remediation=_s3_remediation(),
        controls=("soc2-2017:CC6.1",),
    )
    def encrypted(row: dict[str, Any], params: dict[str, Any]):
        return Status.FAIL, f"Bucket {row['arn']} has no default encryption."


def test_control_detail_keeps_the_remediation_column_on_screen_at_1440px(
    live_server, browser, tmp_path, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    remediation = _s3_remediation()
    assert len(max(remediation.split(), key=len)) >= 30, "the test needs a long unbreakable word"
    with registry.temporarily(WideBuckets):
        catalogs_load_builtin()
        check_mappings_sync_from_registry()
        conn = connection_create(name="Wide buckets", collector_key=WideBuckets.key, params={})
        run = collection_run_execute(
            run_id=collection_run_create(connection=conn, trigger="manual").pk
        )
        assert run.status == "succeeded", run.error_message
        user_create(
            username="robin", email="robin@example.com", role=Role.ENGINEER,
            password="a-long-test-password",
        )  # fmt: skip
        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill("robin")
            page.get_by_label("Password").fill("a-long-test-password")
            page.get_by_role("button", name="Sign in").click()
            page.goto(f"{live_server.url}/controls/soc2-2017/CC6.1/")
            table = page.locator("section[aria-labelledby=failing-h] table")
            expect(table).to_contain_text("pixmuse-production-customer-uploads")
            page.screenshot(path=str(tmp_path / "control-detail-1440.png"), full_page=True)
            overflow = page.evaluate(
                """() => [document.documentElement, ...document.querySelectorAll('.table-wrap')]
                     .map(el => el.scrollWidth - el.clientWidth)"""
            )
            assert max(overflow) <= 0, f"horizontal overflow (px) per scroller: {overflow}"
            # The remediation cell is fully inside the viewport, not behind a scroll.
            cell = table.locator("tbody tr").first.locator("td").last
            expect(cell).to_contain_text(remediation[:30])
            box = cell.bounding_box()
            assert box is not None and box["x"] + box["width"] <= LAPTOP["width"], box
        finally:
            context.close()
