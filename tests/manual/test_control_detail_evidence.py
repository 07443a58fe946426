"""Issue 12 (a new user's walkthrough): the control page shows one status and the evidence
that makes it, automated and manual, on one page.

CC1.1 showed "Passing" next to "No evidence in this period": its only proof was a manual
upload, which the page did not list.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from tests.manual.test_manual_upload import PDF, upload

pytestmark = pytest.mark.django_db


def _page(client, ref: str, **query):
    response = client.get(reverse("dashboard:control_detail", args=["soc2-2017", ref]), query)
    assert response.status_code == 200
    return response, response.content.decode()


def test_a_control_passing_on_manual_evidence_lists_that_evidence(
    client, media_root, catalogs, users
):
    client.force_login(users.engineer)
    response, html = _page(client, "CC1.1")
    assert response.context["item"].status == "no_evidence"
    assert "No manual evidence supports this control" in html

    manual = upload(PDF, "code-of-conduct.pdf", users.manager, title="Code of conduct 2026",
                    control_addresses=["soc2-2017:CC1.1"])  # fmt: skip
    response, html = _page(client, "CC1.1")
    assert response.context["item"].status == "passing"
    # the evidence that makes it: in the summary, in the manual evidence list, on the timeline
    assert response.context["current_manual"] == manual
    assert "Code of conduct 2026" in html
    assert reverse("manualevidence:detail", args=[manual.pk]) in html
    assert f"valid until {manual.valid_until:%Y-%m-%d}" in strip_tags(html)
    timeline = response.context["timeline"]
    assert [(e.item.pk, e.status) for e in timeline] == [(manual.evidence_id, "passing")]
    assert "No evidence in this period" not in html
    assert reverse("dashboard:evidence_artifact", args=[manual.evidence_id]) in html


def test_a_period_without_the_upload_still_shows_what_the_status_rests_on(
    client, media_root, catalogs, users
):
    client.force_login(users.engineer)
    upload(PDF, "conduct.pdf", users.manager, title="Code of conduct",
           control_addresses=["soc2-2017:CC1.1"])  # fmt: skip
    last_year = timezone.now().date() - timedelta(days=365)
    response, html = _page(
        client, "CC1.1", since=str(last_year), until=str(last_year + timedelta(days=30))
    )
    assert response.context["item"].status == "passing"
    assert response.context["timeline"] == []  # nothing was collected in that period...
    assert "Code of conduct" in html  # ...but the current proof is listed
    assert [m.title for m in response.context["manual_items"]] == ["Code of conduct"]


def test_expired_manual_evidence_is_listed_as_expired_with_the_pending_status(
    client, media_root, catalogs, users
):
    client.force_login(users.engineer)
    today = timezone.now().date()
    upload(PDF, "old.pdf", users.manager, title="Old policy", recurrence="",
           effective_on=today - timedelta(days=400), valid_until=today - timedelta(days=1),
           control_addresses=["soc2-2017:CC1.1"])  # fmt: skip
    response, html = _page(client, "CC1.1")
    assert response.context["item"].status == "manual_pending"
    assert f"expired on {today - timedelta(days=1):%Y-%m-%d}" in strip_tags(html)
    assert [e.status for e in response.context["timeline"]] == ["stale"]


def test_automated_and_manual_evidence_of_one_control_are_both_listed(
    client, media_root, catalogs, users
):
    client.force_login(users.engineer)
    connection = connection_create(name="Demo inventory", collector_key="demo_inventory", params={})
    run = collection_run_execute(
        run_id=collection_run_create(connection=connection, trigger="manual").pk
    )
    assert run.status == "succeeded", run.error_message
    manual = upload(PDF, "access.pdf", users.manager, title="Access policy",
                    control_addresses=["soc2-2017:CC6.1"])  # fmt: skip
    response, html = _page(client, "CC6.1")
    assert response.context["item"].status == "failing"  # the demo sample fails CC6.1
    kinds = {("manual" if e.manual else e.item.collector_key) for e in response.context["timeline"]}
    assert kinds == {"manual", "demo_inventory"}
    assert "Access policy" in html and "Demo inventory" in html
    assert manual.evidence_id in {e.item.pk for e in response.context["timeline"]}
