"""What a new user met on the operational pages (issue 12): durations, evidence detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from pixaudit.evidence.models import CollectionRun
from pixaudit.lib.display import format_duration

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.35, "0.3 s"),
        (4.2, "4.2 s"),
        (42.4, "42 s"),
        (192, "3 min 12 s"),
        (180, "3 min"),
        (2 * 3600 + 5 * 60 + 9, "2 h 5 min"),
        (None, "—"),
    ],
)
def test_durations_read_like_a_person_would_say_them(seconds, shown):
    assert format_duration(seconds) == shown


def _timed(run: CollectionRun, seconds: float) -> CollectionRun:
    CollectionRun.objects.filter(pk=run.pk).update(
        finished_at=run.started_at + timedelta(seconds=seconds)
    )
    run.refresh_from_db()
    return run


def test_run_pages_show_the_real_duration_not_zero_minutes(logged_in, demo_run):
    run = _timed(demo_run, 4.2)
    listing = logged_in.get(reverse("dashboard:run_list")).content.decode()
    assert "4.2 s" in listing
    assert "0\xa0minutes" not in listing and "0 minutes" not in listing
    detail = logged_in.get(reverse("dashboard:run_detail", args=[run.pk])).content.decode()
    assert '<dd data-field="duration">4.2 s</dd>' in detail
    status = logged_in.get(reverse("dashboard:run_status", args=[run.pk])).json()
    assert status["duration"] == "4.2 s"
    _timed(run, 192)
    assert "3 min 12 s" in logged_in.get(reverse("dashboard:run_list")).content.decode()


# --- Evidence detail -----------------------------------------------------------------------


def _stored(connection_name: str, resources: list[dict] | None = None):
    from pixaudit.evidence.services import (
        collection_run_create,
        collection_run_execute,
        connection_create,
    )

    params = {"resources": resources} if resources is not None else {}
    conn = connection_create(name=connection_name, collector_key="demo_inventory", params=params)
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    assert run.status == "succeeded", run.error_message
    return run.result.evidence


def test_evidence_detail_lists_the_api_calls_the_artifact_records(logged_in, demo_run):
    from pixaudit.evidence.models import EvidenceItem

    item = EvidenceItem.objects.get(run=demo_run)
    calls = item.provenance["api_calls"]
    assert isinstance(calls, list) and calls, calls
    html = logged_in.get(reverse("dashboard:evidence_detail", args=[item.pk])).content.decode()
    assert "<dt>API calls</dt>" in html
    for call in calls:
        assert f"<code>{call}</code>" in html
    assert f"{len(calls)} action" in html


def test_evidence_detail_shows_the_items_findings_failures_first(logged_in, demo_run):
    from pixaudit.evidence.models import EvidenceItem

    item = EvidenceItem.objects.get(run=demo_run)
    html = logged_in.get(reverse("dashboard:evidence_detail", args=[item.pk])).content.decode()
    assert 'id="findings-h"' in html
    assert "bucket-logs" in html and "demo_inventory.encryption_at_rest" in html
    table = html[html.index("findings-table") :]
    assert table.index("badge fail") < table.index("badge pass")
    assert f"{item.findings_count} findings" in html


def test_evidence_detail_pages_big_items_with_a_fixed_number_of_queries(logged_in, catalogs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = _stored("Small", [{"name": "bucket-1", "kind": "storage", "encrypted": True}])
    big = _stored(
        "Big",
        [
            {"name": f"bucket-{i:03d}", "kind": "storage", "encrypted": i % 3 == 0}
            for i in range(180)
        ],
    )
    assert big.findings_count > 2 * 50  # several pages

    def queries(item, page: int = 1) -> tuple[int, str]:
        url = reverse("dashboard:evidence_detail", args=[item.pk])
        with CaptureQueriesContext(connection) as ctx:
            response = logged_in.get(url, {"page": page})
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    n_small, _ = queries(small)
    n_big, html = queries(big)
    assert n_small == n_big, (n_small, n_big)
    assert html.count("<tr>") - 1 == 50  # one page of rows (plus the header row)
    assert "Page 1 of" in html and "?page=2#findings-h" in html
    n_last, last = queries(big, page=big.findings_count // 50 + 1)
    assert n_last == n_big and 'rel="prev"' in last
