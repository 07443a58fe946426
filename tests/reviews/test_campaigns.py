"""Campaigns: sealed snapshot, diff, decisions, completion evidence in the chain."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from pixaudit.controls.models import MappingOverride
from pixaudit.evidence.canonical import sha256_hex
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import LatestResult
from pixaudit.evidence.storage import artifact_read
from pixaudit.reviews.models import Campaign, FollowUp
from pixaudit.reviews.services import (
    ReviewError,
    campaign_complete,
    campaign_start,
    campaigns_start_due,
    entries_decide,
    entry_assign,
)
from pixaudit.reviews.services.campaigns import snapshot_rows, snapshot_verify
from tests.reviews.fixtures import PEOPLE, collect, person

pytestmark = pytest.mark.django_db


def _start(conn, users, **kw):
    return campaign_start(
        connection=conn, name=kw.pop("name", "Q1 review"),
        due_on=kw.pop("due_on", timezone.now().date() + timedelta(days=10)),
        user=users.manager, **kw,
    )  # fmt: skip


def _decide_all(campaign, user, **special):
    decisions = {}
    for entry in campaign.entries.all():
        decision = special.get(entry.account_id, ("keep", ""))
        decisions[entry.pk] = decision
    entries_decide(campaign=campaign, decisions=decisions, user=user)


def test_snapshot_is_frozen_sealed_and_content_addressed(people, users):
    campaign = _start(people, users)
    data = artifact_read(campaign.snapshot_path)
    assert sha256_hex(data) == campaign.snapshot_sha256
    assert campaign.snapshot_sha256 in campaign.snapshot_path
    document = json.loads(data)
    assert [r["account_id"] for r in document["rows"]] == ["alice", "bob", "carol"]
    assert document["population_evidence"]["seq"] == campaign.population_evidence.seq
    assert campaign.entries.count() == 3 and campaign.snapshot_count == 3
    assert snapshot_verify(campaign=campaign)
    # A later collection does not change the frozen population.
    collect(people, PEOPLE + [person("dave")])
    assert len(snapshot_rows(campaign=campaign)) == 3 and campaign.entries.count() == 3
    # Tampering with the stored snapshot breaks the seal, and completion refuses.
    with default_storage.open(campaign.snapshot_path, "wb") as fh:
        fh.write(data.replace(b"alice", b"mallory"))
    assert not snapshot_verify(campaign=campaign)
    _decide_all(campaign, users.manager)
    with pytest.raises(ReviewError, match="sealed snapshot"):
        campaign_complete(campaign=campaign, user=users.manager)


def test_diff_against_previous_campaign(people, users):
    first = _start(people, users)
    assert set(first.entries.values_list("change", flat=True)) == {"first"}
    _decide_all(first, users.manager)
    campaign_complete(campaign=first, user=users.manager)
    collect(people, [
        person("alice", ("admin",)),                 # unchanged
        person("bob", ("admin", "dev")),            # privileges changed
        person("dave"),                              # new
        # carol removed
    ])  # fmt: skip
    second = _start(people, users, name="Q2 review")
    changes = dict(second.entries.values_list("account_id", "change"))
    assert changes == {"alice": "unchanged", "bob": "changed", "dave": "new"}
    bob = second.entries.get(account_id="bob")
    fields = {d["field"] for d in bob.change_detail}
    assert fields == {"privileges", "is_privileged"}
    assert second.previous == first
    assert second.diff["new"] == 1 and second.diff["changed"] == 1
    assert [r["account_id"] for r in second.diff["removed"]] == ["carol"]


def test_mfa_change_is_detected(people, users):
    first = _start(people, users)
    _decide_all(first, users.manager)
    campaign_complete(campaign=first, user=users.manager)
    collect(
        people, [person("alice", ("admin",), mfa=False), person("bob"), person("carol", mfa=False)]
    )
    second = _start(people, users, name="next")
    alice = second.entries.get(account_id="alice")
    assert alice.change == "changed"
    assert alice.change_detail == [{"field": "mfa_enabled", "before": True, "after": False}]


def test_only_one_open_campaign_per_source_and_due_date(people, users):
    _start(people, users)
    with pytest.raises(ReviewError, match="open campaign"):
        _start(people, users)
    people2 = people
    with pytest.raises(ReviewError):
        _start(people2, users, due_on=timezone.now().date() - timedelta(days=1))


def test_decisions_validation_and_assignment(people, users):
    campaign = _start(people, users, reviewers=[users.engineer])
    bob = campaign.entries.get(account_id="bob")
    alice = campaign.entries.get(account_id="alice")
    with pytest.raises(ReviewError, match="note is required"):
        entries_decide(campaign=campaign, decisions={bob.pk: ("revoke", "  ")}, user=users.engineer)
    with pytest.raises(ReviewError, match="keep, revoke or modify"):
        entries_decide(campaign=campaign, decisions={bob.pk: ("delete", "x")}, user=users.engineer)
    # Not a reviewer: refused (all or nothing).
    with pytest.raises(ReviewError, match="not a reviewer"):
        entries_decide(campaign=campaign, decisions={bob.pk: ("keep", "")},
                       user=users.other_engineer)  # fmt: skip
    with pytest.raises(ReviewError, match="not a reviewer"):
        entries_decide(campaign=campaign, decisions={bob.pk: ("keep", "")}, user=users.auditor)
    assert (
        entries_decide(
            campaign=campaign,
            decisions={bob.pk: ("revoke", "left the company")},
            user=users.engineer,
        )
        == 1
    )
    # A per-account reviewer overrides the campaign's reviewers.
    entry_assign(entry=alice, reviewer=users.other_engineer, user=users.manager)
    with pytest.raises(ReviewError, match="not a reviewer"):
        entries_decide(campaign=campaign, decisions={alice.pk: ("keep", "")}, user=users.engineer)
    entries_decide(campaign=campaign, decisions={alice.pk: ("keep", "")}, user=users.other_engineer)
    bob.refresh_from_db()
    assert (bob.decision, bob.note, bob.decided_by) == (
        "revoke",
        "left the company",
        users.engineer,
    )


def test_completion_requires_every_decision(people, users):
    campaign = _start(people, users)
    with pytest.raises(ReviewError, match="3 account"):
        campaign_complete(campaign=campaign, user=users.manager)


def test_completion_appends_evidence_to_the_same_chain(people, users):
    campaign = _start(people, users)
    _decide_all(campaign, users.manager, bob=("revoke", "left"), carol=("modify", "drop admin"))
    item = campaign_complete(campaign=campaign, user=users.manager)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.completion_evidence == item
    assert item.collector_key == "access_review"
    assert item.seq == campaign.population_evidence.seq + 1
    result = verify_chain()
    assert result.ok, result.problem
    document = json.loads(artifact_read(item.artifact_path))
    assert document["snapshot"]["sha256"] == campaign.snapshot_sha256
    assert [(d["account_id"], d["decision"]) for d in document["decisions"]] == [
        ("alice", "keep"), ("bob", "revoke"), ("carol", "modify"),
    ]  # fmt: skip
    findings = {(f.assertion_id, f.resource, f.status) for f in item.findings.all()}
    assert ("access_review.completed", "Test directory", "pass") in findings
    assert ("access_review.revocations_applied", "Test directory/bob", "warn") in findings
    assert ("access_review.modifications_applied", "Test directory/carol", "warn") in findings
    controls = item.findings.first().controls
    assert controls == ["soc2-2017:CC6.2", "soc2-2017:CC6.3", "iso27001-2022:A.5.18"]
    assert MappingOverride.objects.filter(assertion_id="access_review.completed").count() == 3
    assert FollowUp.objects.filter(status="pending").count() == 2
    with pytest.raises(ReviewError):
        entries_decide(campaign=campaign, decisions={}, user=users.manager)


def test_recurring_campaign_starts_when_due(people, users):
    campaign = _start(people, users, recurrence="quarterly", reviewers=[users.engineer])
    _decide_all(campaign, users.manager)
    campaign_complete(campaign=campaign, user=users.manager)
    today = timezone.now().date()
    assert campaigns_start_due(today=today) == []
    started = campaigns_start_due(today=today + timedelta(days=93))
    assert len(started) == 1
    new = started[0]
    assert new.previous == campaign and new.recurrence == "quarterly"
    assert list(new.reviewers.all()) == [users.engineer]
    assert campaigns_start_due(today=today + timedelta(days=93)) == []  # one open at a time


def test_posture_counts_review_evidence(people, users):
    from pixaudit.controls.selectors import control_get_by_address
    from pixaudit.posture.selectors import control_posture

    campaign = _start(people, users)
    _decide_all(campaign, users.manager)
    campaign_complete(campaign=campaign, user=users.manager)
    posture = control_posture(control=control_get_by_address("soc2-2017:CC6.2"))
    assert "access_review.completed" in posture.assertion_ids
    assert LatestResult.objects.get(assertion_id="access_review.completed").status == "pass"


def test_completing_twice_appends_one_item(people, users):
    # Two requests (a double click) both loaded the campaign while it was open.
    from pixaudit.evidence.models import EvidenceItem

    campaign = _start(people, users)
    _decide_all(campaign, users.manager, bob=("revoke", "left"))
    stale = Campaign.objects.get(pk=campaign.pk)
    campaign_complete(campaign=campaign, user=users.manager)
    before = EvidenceItem.objects.count()
    with pytest.raises(ReviewError):
        campaign_complete(campaign=stale, user=users.manager)
    assert EvidenceItem.objects.count() == before
    assert FollowUp.objects.count() == 1
    assert verify_chain().ok


def test_decisions_cannot_change_once_completed(people, users):
    campaign = _start(people, users)
    _decide_all(campaign, users.manager)
    stale = Campaign.objects.get(pk=campaign.pk)
    campaign_complete(campaign=campaign, user=users.manager)
    bob = campaign.entries.get(account_id="bob")
    with pytest.raises(ReviewError):
        entries_decide(campaign=stale, decisions={bob.pk: ("revoke", "late")}, user=users.manager)
    bob.refresh_from_db()
    assert bob.decision == "keep"
