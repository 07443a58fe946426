"""A revoke decision is checked by the next collection of the source."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import EvidenceItem, LatestResult
from pixaudit.reviews.models import FollowUp
from pixaudit.reviews.services import campaign_complete, campaign_start, entries_decide
from pixaudit.reviews.services.followups import followups_check, followups_check_all
from tests.reviews.fixtures import collect, person

pytestmark = pytest.mark.django_db


def _completed(conn, users, **special):
    campaign = campaign_start(
        connection=conn, name="review", due_on=timezone.now().date() + timedelta(days=5),
        user=users.manager,
    )  # fmt: skip
    decisions = {e.pk: special.get(e.account_id, ("keep", "")) for e in campaign.entries.all()}
    entries_decide(campaign=campaign, decisions=decisions, user=users.manager)
    campaign_complete(campaign=campaign, user=users.manager)
    return campaign


def _latest(account: str, assertion="access_review.revocations_applied") -> LatestResult:
    return LatestResult.objects.get(assertion_id=assertion, resource=f"Test directory/{account}")


def test_unremoved_access_fails_then_passes_once_removed(people, users):
    _completed(people, users, bob=("revoke", "left the company"))
    assert _latest("bob").status == "warn"
    # Next collection: bob is still there -> failing, recorded in the chain.
    collect(people, [person("alice", ("admin",)), person("bob"), person("carol", mfa=False)])
    followup = FollowUp.objects.get()
    assert followup.status == FollowUp.Status.NOT_APPLIED
    assert _latest("bob").status == "fail"
    assert "still active" in _latest("bob").message
    assert followup.result_evidence.collector_key == "access_review"
    # Then bob is removed: the follow-up passes.
    collect(people, [person("alice", ("admin",)), person("carol", mfa=False)])
    followup.refresh_from_db()
    assert followup.status == FollowUp.Status.APPLIED
    assert _latest("bob").status == "pass"
    result = verify_chain()
    assert result.ok, result.problem
    # Applied follow-ups are not checked again.
    before = EvidenceItem.objects.count()
    collect(people, [person("alice", ("admin",))])
    assert EvidenceItem.objects.count() == before + 1  # the collection only


def test_suspended_account_counts_as_revoked(people, users):
    _completed(people, users, carol=("revoke", "contractor ended"))
    collect(people, [person("alice", ("admin",)), person("bob"),
                     person("carol", mfa=False, status="SUSPENDED")])  # fmt: skip
    assert _latest("carol").status == "pass"


def test_modify_checks_privileges(people, users):
    _completed(people, users, alice=("modify", "drop admin"))
    collect(people, [person("alice", ("admin",)), person("bob"), person("carol", mfa=False)])
    assert _latest("alice", "access_review.modifications_applied").status == "fail"
    collect(people, [person("alice", ("dev",)), person("bob"), person("carol", mfa=False)])
    assert _latest("alice", "access_review.modifications_applied").status == "pass"


def test_checking_the_same_collection_twice_is_a_noop(people, users):
    _completed(people, users, bob=("revoke", "left"))
    item = collect(people)
    count = EvidenceItem.objects.count()
    assert followups_check(item=item) is None
    assert followups_check_all() == 0
    assert EvidenceItem.objects.count() == count


def test_collection_before_the_snapshot_is_not_used(people, users):
    old = EvidenceItem.objects.filter(collector_key="testsrc_people").get()
    _completed(people, users, bob=("revoke", "left"))
    assert followups_check(item=old) is None
    assert FollowUp.objects.get().status == FollowUp.Status.PENDING


def test_collection_before_the_completion_is_not_used(people, users):
    # Collected after the snapshot but before the decisions were taken and completed: it
    # cannot show whether the decided revocation was applied.
    campaign = campaign_start(
        connection=people, name="review", due_on=timezone.now().date() + timedelta(days=5),
        user=users.manager,
    )  # fmt: skip
    between = collect(people)
    bob = campaign.entries.get(account_id="bob")
    decisions = {e.pk: ("keep", "") for e in campaign.entries.all()}
    decisions[bob.pk] = ("revoke", "left")
    entries_decide(campaign=campaign, decisions=decisions, user=users.manager)
    campaign_complete(campaign=campaign, user=users.manager)
    assert followups_check(item=between) is None
    assert followups_check_all() == 0
    assert FollowUp.objects.get().status == FollowUp.Status.PENDING
    assert _latest("bob").status == "warn"
