"""An organisation run end to end: listing, rules, one job per account, per-account ERROR."""

from __future__ import annotations

import pytest

from pixaudit.awsorg.models import AwsAccountConnection, AwsAccountRun, RunState
from pixaudit.awsorg.services.config import aws_integration_create
from pixaudit.awsorg.services.runs import (
    IntegrationRunActive,
    aws_integration_run_start,
)
from pixaudit.evidence.models import EvidenceItem, LatestResult

from .conftest import FAST

pytestmark = pytest.mark.django_db(transaction=False)


def _integration(box, **rules):
    return aws_integration_create(
        name="Org", mode="organization", collectors=FAST,
        params={"regions": ["us-east-1"]},
        secrets={"access_key_id": "testing", "secret_access_key": "testing"},
        member_role_name="pixaudit-readonly", member_external_id="pixaudit-external-id",
        account_rules={"exclude_ids": [box.management], **rules},
    )  # fmt: skip


def test_org_run_collects_each_account_and_isolates_the_one_without_a_role(
    organisation, django_capture_on_commit_callbacks
):
    box = organisation
    integration = _integration(box, exclude_ous=[box.ous["sandbox"]])
    with django_capture_on_commit_callbacks(execute=True):
        run = aws_integration_run_start(integration=integration)
    run.refresh_from_db()
    good, missing = box.members[0], box.members[2]
    # Suspended reported, the sandbox OU and the management account skipped with a reason.
    assert run.suspended == [{"id": box.members[4], "name": "member-004", "status": "SUSPENDED"}]
    reasons = {e["id"]: e["reason"] for e in run.excluded}
    assert reasons == {
        box.management: "excluded by id",
        box.members[1]: f"excluded OU {box.ous['sandbox']}",
        box.members[3]: f"excluded OU {box.ous['sandbox']}",
    }
    accounts = {a.account_id: a for a in AwsAccountRun.objects.filter(run=run)}
    assert set(accounts) == {good, missing}
    assert accounts[good].status == RunState.SUCCEEDED
    assert accounts[good].collectors_done == 2 and accounts[good].api_calls > 0
    assert accounts[missing].status == RunState.FAILED
    assert "cannot assume role" in accounts[missing].message
    assert "AccessDenied" in accounts[missing].message
    assert run.status == RunState.PARTIAL and run.finished_at is not None

    links = AwsAccountConnection.objects.filter(integration=integration)
    by_account: dict[str, set[int]] = {}
    for link in links:
        by_account.setdefault(link.account_id, set()).add(link.connection_id)
    assert all(not link.connection.enabled for link in links)  # the integration schedules
    # Evidence for the good account, carrying its account id; none for the other.
    items = EvidenceItem.objects.filter(connection_id__in=by_account[good])
    assert items.count() == 2
    assert not EvidenceItem.objects.filter(connection_id__in=by_account[missing]).exists()
    bucket = LatestResult.objects.get(
        connection_id__in=by_account[good],
        resource=f"arn:aws:s3::{good}:evidence-{good}",
        assertion_id="aws_s3_buckets.default_encryption",
    )
    assert bucket.status in ("pass", "fail")
    # ERROR for the account without a role only: one run-failure row per assertion.
    errors = LatestResult.objects.filter(status="error")
    assert errors.exists()
    assert set(errors.values_list("connection_id", flat=True)) <= by_account[missing]
    assert all("cannot assume role" in e.message for e in errors)
    iam = items.get(collector_key="aws_iam_users")
    assert iam.provenance["api_call_counts"]["iam:GetAccountAuthorizationDetails"] == 1
    # Issue 17: the account's role is assumed and its identity read once per run, not
    # once per collector (the cache of the account job, collectors.aws._sessions).
    counts = [item.provenance["api_call_counts"] for item in items]
    assert sum(c.get("sts:AssumeRole", 0) for c in counts) == 1
    assert sum(c.get("sts:GetCallerIdentity", 0) for c in counts) == 1
    assert accounts[good].api_calls == sum(sum(c.values()) for c in counts)
    per_type = iam.provenance["api_calls_per_resource"]
    assert per_type["resource_type"] == "aws_iam_users" and per_type["resources"] == 1
    assert per_type["calls"] == sum(iam.provenance["api_call_counts"].values())
    # The control pages' account filter: each account judged on its own connections.
    from pixaudit.awsorg.selectors import account_connection_ids
    from pixaudit.posture.selectors import assertion_states

    ids = ["aws_s3_buckets.default_encryption"]
    mine = assertion_states(assertion_ids=ids, connections=account_connection_ids(good))
    theirs = assertion_states(assertion_ids=ids, connections=account_connection_ids(missing))
    assert "error" not in mine[ids[0]].counts
    assert theirs[ids[0]].counts == {"error": 1}


def test_a_second_run_is_refused_while_one_is_active(organisation):
    box = organisation
    integration = _integration(box)
    run = aws_integration_run_start(integration=integration)  # not committed: still queued
    with pytest.raises(IntegrationRunActive) as caught:
        aws_integration_run_start(integration=integration)
    assert caught.value.run == run
