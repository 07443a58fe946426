"""Starting an access review never snapshots inside the request: the campaign is
*snapshotting* while a job freezes, seals and diffs the population; its page shows that,
then the accounts; a failure is said in words and nothing can be decided."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pixaudit.evidence.storage import ArtifactStoreError
from pixaudit.lib import embedded_worker
from pixaudit.reviews.models import Campaign
from pixaudit.reviews.services import (
    ReviewError,
    campaign_request,
    campaign_snapshot_take,
    entries_decide,
)
from pixaudit.reviews.services import campaigns as campaign_services
from tests.jobs.conftest import skip_on_shared_memory_sqlite, wait_for
from tests.security.helpers import client_for


def _form(people, name: str) -> dict:
    due = (timezone.now().date() + timedelta(days=7)).isoformat()
    return {"connection": people.pk, "name": name, "due_on": due, "recurrence": ""}


@pytest.fixture
def worker():
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


@pytest.mark.django_db(transaction=True)
def test_start_returns_at_once_and_the_page_follows_the_snapshot(
    people, users, worker, monkeypatch
):
    skip_on_shared_memory_sqlite()
    real_rows = campaign_services.population_rows

    def slow_rows(**kwargs):  # a population of tens of thousands of accounts
        time.sleep(3)
        return real_rows(**kwargs)

    monkeypatch.setattr(campaign_services, "population_rows", slow_rows)
    manager = client_for(users.manager)
    started = time.monotonic()
    response = manager.post(reverse("reviews:campaign_create"), _form(people, "Background"))
    answered = time.monotonic() - started
    assert response.status_code == 302 and answered < 2.0, f"held the request {answered:.1f} s"
    campaign = Campaign.objects.get(name="Background")
    detail = reverse("reviews:campaign_detail", args=[campaign.pk])
    page = manager.get(detail).content.decode()
    assert "taking the snapshot" in page and 'name="decision-' not in page
    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status == "open",
        timeout=60,
        what="the snapshot to be sealed",
    )
    campaign.refresh_from_db()
    assert campaign.snapshot_count == 3 and len(campaign.snapshot_sha256) == 64
    page = manager.get(detail).content.decode()
    assert "Sealed snapshot" in page and 'name="decision-' in page


@pytest.mark.django_db
def test_a_failed_snapshot_is_said_in_words_and_nothing_can_be_decided(people, users, monkeypatch):
    def disk_full(*args, **kwargs):
        raise ArtifactStoreError("no space left on device")

    monkeypatch.setattr(campaign_services, "artifact_store", disk_full)
    due = timezone.now().date() + timedelta(days=7)
    campaign = campaign_request(connection=people, name="Fails", due_on=due, user=users.manager)
    assert campaign.status == "snapshotting"
    with pytest.raises(ReviewError, match="still being taken"):
        entries_decide(campaign=campaign, decisions={}, user=users.manager)
    # One campaign per source: a second start waits for this one.
    with pytest.raises(ReviewError, match="already has an open campaign"):
        campaign_request(connection=people, name="Twice", due_on=due, user=users.manager)
    campaign = campaign_snapshot_take(campaign_id=campaign.pk)
    assert campaign.status == "snapshot_failed" and not campaign.entries.exists()
    assert campaign.snapshot_error == (
        "The snapshot could not be taken: The population snapshot could not be stored: "
        "no space left on device."
    )
    page = client_for(users.manager).get(reverse("reviews:campaign_detail", args=[campaign.pk]))
    text = page.content.decode()
    assert "snapshot failed" in text and "no space left on device" in text
    assert 'http-equiv="refresh"' not in text and 'name="decision-' not in text
    with pytest.raises(ReviewError, match="closed"):
        entries_decide(campaign=campaign, decisions={}, user=users.manager)
    listing = client_for(users.manager).get(reverse("reviews:campaign_list")).content.decode()
    assert "Starting" in listing and "Fails" in listing and "no space left on device" in listing
    # The failed start does not hold the source: it can be started again.
    monkeypatch.undo()
    again = campaign_request(connection=people, name="Again", due_on=due, user=users.manager)
    assert campaign_snapshot_take(campaign_id=again.pk).status == "open"
    # The failed campaign is never the "previous" one a diff compares with.
    assert Campaign.objects.get(pk=again.pk).previous_id is None
