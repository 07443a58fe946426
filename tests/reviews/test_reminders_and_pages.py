"""Reminders (idempotent per day), pages and permissions of access reviews."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from pixaudit.reviews.models import Campaign, ReminderSent
from pixaudit.reviews.services import campaign_snapshot_take, campaign_start, reminders_send
from pixaudit.reviews.services.demo import demo_campaign_ensure
from tests.reviews.fixtures import client_for

pytestmark = pytest.mark.django_db


def _campaign(people, users, days=3):
    return campaign_start(
        connection=people, name="Q review", due_on=timezone.now().date() + timedelta(days=days),
        user=users.manager, reviewers=[users.engineer],
    )  # fmt: skip


def test_reminders_are_sent_once_per_day(people, users):
    campaign = _campaign(people, users)
    today = timezone.now().date()
    assert reminders_send(today=today)["campaign"] == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [users.engineer.email]
    assert "3 account(s)" in message.body and f"/reviews/{campaign.pk}/" in message.body
    assert reminders_send(today=today)["campaign"] == 0
    call_command("reviews_send_reminders")
    assert len(mail.outbox) == 1
    assert reminders_send(today=today + timedelta(days=1))["campaign"] == 1
    assert ReminderSent.objects.count() == 2


def test_campaign_names_are_one_line_and_older_ones_still_get_reminders(people, users):
    from pixaudit.reviews.services import ReviewError

    with pytest.raises(ReviewError, match="single line"):
        due = timezone.now().date() + timedelta(days=3)
        campaign_start(connection=people, name="Q1\r\nBcc: x@evil.example", due_on=due,
                       user=users.manager)  # fmt: skip
    campaign = _campaign(people, users)
    Campaign.objects.filter(pk=campaign.pk).update(name="Q1\r\nreview")  # stored before the check
    assert reminders_send()["campaign"] == 1
    assert mail.outbox[0].subject.startswith("[pixaudit] Access review 'Q1 review' is due")


def test_no_reminder_long_before_the_due_date(people, users):
    _campaign(people, users, days=30)
    assert reminders_send()["campaign"] == 0


def test_failed_send_is_retried(people, users, monkeypatch):
    _campaign(people, users)

    def boom(*args, **kwargs):
        raise OSError("smtp down")

    monkeypatch.setattr("pixaudit.reviews.services.reminders.send_mail", boom)
    assert reminders_send()["campaign"] == 0
    assert not ReminderSent.objects.exists()
    monkeypatch.undo()
    assert reminders_send()["campaign"] == 1


def test_pages_and_permissions(people, users):
    campaign = _campaign(people, users)
    urls = [
        reverse("reviews:campaign_list"),
        reverse("reviews:campaign_detail", args=[campaign.pk]),
    ]
    for url in urls:
        for user in (users.admin, users.manager, users.engineer):
            assert client_for(user).get(url).status_code == 200, (url, user.role)
        assert client_for(users.auditor).get(url).status_code == 403
        assert client_for(None).get(url).status_code == 302
    assert client_for(users.engineer).get(reverse("reviews:campaign_create")).status_code == 403
    page = client_for(users.manager).get(reverse("reviews:campaign_create"))
    assert page.status_code == 200 and b"Test directory" in page.content
    detail = client_for(users.engineer).get(urls[1]).content.decode()
    assert campaign.snapshot_sha256 in detail and 'name="decision-' in detail
    # Another engineer (not assigned) sees no decision inputs.
    assert 'name="decision-' not in client_for(users.other_engineer).get(urls[1]).content.decode()
    snapshot = client_for(users.engineer).get(
        reverse("reviews:campaign_snapshot", args=[campaign.pk])
    )
    assert snapshot.status_code == 200


def test_start_decide_complete_through_the_pages(people, users):
    manager = client_for(users.manager)
    due = (timezone.now().date() + timedelta(days=7)).isoformat()
    response = manager.post(reverse("reviews:campaign_create"), {
        "connection": people.pk, "name": "Web review", "due_on": due, "recurrence": "quarterly",
        "reviewers": [users.engineer.pk],
    })  # fmt: skip
    campaign = Campaign.objects.get(name="Web review")
    assert response.status_code == 302
    # The page answered before the snapshot was taken (its job runs once this commits).
    assert campaign.status == "snapshotting" and not campaign.entries.exists()
    page = manager.get(reverse("reviews:campaign_detail", args=[campaign.pk])).content.decode()
    assert "taking the snapshot" in page and 'http-equiv="refresh"' in page
    assert 'name="decision-' not in page
    assert manager.get(reverse("reviews:campaign_snapshot", args=[campaign.pk])).status_code == 404
    campaign = campaign_snapshot_take(campaign_id=campaign.pk)
    assert campaign.status == "open" and campaign.snapshot_count == 3
    entries = {e.account_id: e.pk for e in campaign.entries.all()}
    engineer = client_for(users.engineer)
    url = reverse("reviews:campaign_decide", args=[campaign.pk])
    bad = engineer.post(url, {f"decision-{entries['bob']}": "revoke", f"note-{entries['bob']}": ""},
                        follow=True)  # fmt: skip
    assert "a note is required" in bad.content.decode()
    engineer.post(url, {
        f"decision-{entries['alice']}": "keep", f"decision-{entries['bob']}": "revoke",
        f"note-{entries['bob']}": "left", f"decision-{entries['carol']}": "keep",
    })  # fmt: skip
    assert (
        engineer.post(reverse("reviews:campaign_complete", args=[campaign.pk])).status_code == 403
    )
    manager.post(reverse("reviews:campaign_complete", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.status == "completed" and campaign.completion_evidence is not None
    listing = manager.get(reverse("reviews:campaign_list")).content.decode()
    assert "Next due" in listing and "Web review" in listing


def test_demo_campaign_on_demo_inventory(db, media_root, catalogs, users):
    from pixaudit.evidence.services import connection_create
    from tests.reviews.fixtures import collect

    assert demo_campaign_ensure() is None
    conn = connection_create(name="Demo inventory (offline)", collector_key="demo_inventory",
                             params={})  # fmt: skip
    collect(conn)
    campaign = demo_campaign_ensure()
    assert campaign is not None and campaign.collector_key == "demo_inventory"
    assert sorted(campaign.entries.values_list("account_id", flat=True)) == [
        "acct-alice",
        "acct-bob",
    ]
    assert demo_campaign_ensure() == campaign
