"""Organisation mode of the AWS SDK: listing, selection, the role template and the probe."""

from __future__ import annotations

import json

import pytest

from collectors import registry
from collectors.aws import _org as org
from collectors.aws._cloudformation import (
    role_template,
    stackset_template,
    template_json,
    template_policy,
)
from collectors.aws._policy import iam_policy
from collectors.aws._probe import PROBES, probe
from collectors.testing import make_context
from pixaudit.demo.aws_org_sandbox import enforce_assume_role, seed_organisation

from .conftest import session_factory

registry.discover(strict=True)


def _aws_collectors():
    found = [cls for cls in registry.all_collectors() if cls.source == "aws"]
    assert len(found) >= 13
    return found


@pytest.fixture
def sandbox(aws):
    box = seed_organisation(
        accounts=5, without_role=[2], suspended=[4], tags={1: {"team": "payments"}},
        resources=False,
    )  # fmt: skip
    undo = enforce_assume_role()
    yield box
    undo()


def _org_client():
    import boto3

    return boto3.client("organizations", region_name="us-east-1")


def test_list_accounts_pages_and_reads_ous_and_tags(sandbox):
    accounts = org.list_accounts(_org_client(), with_ous=True, with_tags=True)
    ids = [a.id for a in accounts]
    assert set(sandbox.members) <= set(ids)
    assert ids == sorted(ids)
    by_id = {a.id: a for a in accounts}
    assert by_id[sandbox.members[0]].ous == (sandbox.ous["prod"],)
    assert by_id[sandbox.members[1]].ou == sandbox.ous["sandbox"]
    assert by_id[sandbox.members[1]].tags == {"team": "payments"}
    assert not by_id[sandbox.members[4]].active  # suspended


def test_selection_reports_suspended_and_applies_ou_id_and_tag_rules(sandbox):
    accounts = org.list_accounts(_org_client(), with_ous=True, with_tags=True)
    rules = org.AccountFilter(
        exclude_ous=frozenset({sandbox.ous["sandbox"]}), exclude_ids=frozenset({org_mgmt()})
    )
    chosen = org.select_accounts(accounts, rules)
    assert [a.id for a in chosen.suspended] == [sandbox.members[4]]
    assert {a.id for a in chosen.included} == {sandbox.members[0], sandbox.members[2]}
    reasons = {a.id: why for a, why in chosen.excluded}
    assert reasons[sandbox.members[1]] == f"excluded OU {sandbox.ous['sandbox']}"
    assert reasons[org_mgmt()] == "excluded by id"
    tagged = org.select_accounts(accounts, org.AccountFilter(include_tags={"team": "*"}))
    assert [a.id for a in tagged.included] == [sandbox.members[1]]


def org_mgmt() -> str:
    return "123456789012"


def test_listing_denied_names_the_action(aws):
    factory = session_factory(deny=("ListAccounts",))
    client = factory("us-east-1").client("organizations")
    with pytest.raises(org.CollectorError) as caught:
        org.list_accounts(client)
    assert caught.value.message == "AccessDenied on organizations:ListAccounts"
    assert caught.value.permanent


def test_member_role_arn():
    assert org.member_role_arn("210987654321", "/ops/pixaudit") == (
        "arn:aws:iam::210987654321:role/ops/pixaudit"
    )


def test_template_policy_equals_the_enabled_collectors_declared_permissions():
    every = _aws_collectors()
    some = [cls for cls in every if cls.key in ("aws_s3_buckets", "aws_kms_keys")]
    for chosen in (every, some):
        template = role_template(chosen)
        declared = {a for cls in chosen for a in cls.permissions}
        granted = {a for s in template_policy(template)["Statement"] for a in s["Action"]}
        assert granted == declared
        assert template_policy(template) == iam_policy(chosen)
    inner = json.loads(
        stackset_template(some)["Resources"]["PixauditRoleStackSet"]["Properties"]["TemplateBody"]
    )
    assert template_policy(inner) == iam_policy(some)
    assert template_json(role_template(some)) == template_json(role_template(some))


def test_the_template_deploys_and_its_role_is_assumable_only_with_the_external_id(aws):
    import boto3

    undo = enforce_assume_role()
    try:
        chosen = [cls for cls in _aws_collectors() if cls.key == "aws_s3_buckets"]
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack(
            StackName="pixaudit",
            TemplateBody=template_json(role_template(chosen)),
            Parameters=[
                {"ParameterKey": "TrustedPrincipalArn", "ParameterValue": "arn:aws:iam::1:root"},
                {"ParameterKey": "ExternalId", "ParameterValue": "ext-123"},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        role = boto3.client("iam").get_role(RoleName="pixaudit-readonly")["Role"]
        sts = boto3.client("sts", region_name="us-east-1")
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="probe", ExternalId="ext-123")
        with pytest.raises(Exception, match="AccessDenied"):
            sts.assume_role(RoleArn=role["Arn"], RoleSessionName="probe", ExternalId="wrong")
    finally:
        undo()


def test_every_aws_collector_has_a_probe_within_its_declared_permissions():
    for cls in _aws_collectors():
        assert cls.key in PROBES, cls.key
        assert PROBES[cls.key][3] in cls.permissions, cls.key


def test_probe_names_the_missing_permission(aws):
    collectors = _aws_collectors()
    ctx = make_context(
        {"regions": ["us-east-1"]},
        aws_session_factory=session_factory(deny=("ListKeys", "ListBuckets")),
    )
    report = probe(ctx, collectors)
    assert report.identity.endswith(":user/moto") or report.account == "123456789012"
    assert report.missing == ["kms:ListKeys", "s3:ListAllMyBuckets"]
    failed = {c.action: c for c in report.checks if not c.ok}
    assert failed["kms:ListKeys"].collectors == ["aws_kms_keys"]
    assert "missing permission kms:ListKeys" in failed["kms:ListKeys"].error
    assert not report.ok


def test_probe_reports_a_role_that_cannot_be_assumed(sandbox):
    ctx = make_context(
        {
            "regions": ["us-east-1"],
            "role_arn": org.member_role_arn(sandbox.members[2], "pixaudit-readonly"),
            "external_id": "pixaudit-external-id",
        }
    )
    report = probe(ctx, _aws_collectors())
    assert "cannot assume role" in report.error and "AccessDenied" in report.error
    good = make_context(
        {
            "regions": ["us-east-1"],
            "role_arn": org.member_role_arn(sandbox.members[0], "pixaudit-readonly"),
            "external_id": "pixaudit-external-id",
        }
    )
    report = probe(good, _aws_collectors())
    assert report.ok, report
    assert report.account == sandbox.members[0]
