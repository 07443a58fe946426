"""``manage.py run_scheduled``: scheduled work in the embedded default, where no rqcron runs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from pixaudit.evidence.models import CollectionRun, RunStatus, RunTrigger
from pixaudit.evidence.services import connection_create
from pixaudit.posture.models import ReadinessSnapshot

# Autocommit, as under cron: jobs queued on commit run at once, in this process.
pytestmark = pytest.mark.django_db(transaction=True)


def _run(*args: str) -> str:
    out = StringIO()
    call_command("run_scheduled", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_due_connections_are_collected_in_this_process(catalogs, media_root):
    conn = connection_create(name="Inventory", collector_key="demo_inventory", params={})
    out = _run()
    run = CollectionRun.objects.get(connection=conn)
    assert run.trigger == RunTrigger.SCHEDULE and run.status == RunStatus.SUCCEEDED
    assert "Inventory: succeeded" in out
    conn.refresh_from_db()
    assert conn.next_run_at is not None  # scheduled after its freshness window
    again = _run()
    assert "No connection is due." in again and CollectionRun.objects.count() == 1


def test_daily_takes_the_readiness_snapshots_and_does_the_review_day(catalogs, media_root):
    out = _run("--daily")
    assert ReadinessSnapshot.objects.count() == len(catalogs)
    assert f"Readiness snapshots taken: {len(catalogs)}" in out and "Access reviews:" in out
    assert "Exceptions register: 0 item(s) replayed" in out
    assert "Leaver test: skipped (no HR evidence yet)" in out
    assert "Vendor register: skipped (empty register)" in out
    assert "Change tickets: skipped (no github_pull_requests evidence)" in out
