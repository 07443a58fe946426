"""The AWS collectors as a set: shared params, declared permissions, the IAM policy."""

from __future__ import annotations

import json

import pytest

from collectors import Collector, registry
from collectors.aws import _common as aws
from collectors.aws._policy import iam_policy

registry.discover(strict=True)
AWS = [cls for cls in registry.all_collectors() if cls.source == "aws"]


def test_every_expected_collector_is_registered() -> None:
    assert {cls.key for cls in AWS} >= {
        "aws_s3_buckets", "aws_ebs", "aws_ebs_volumes", "aws_rds_instances", "aws_kms_keys",
        "aws_elbv2_listeners", "aws_iam_account", "aws_iam_users", "aws_dynamodb_tables",
        "aws_backup_plans", "aws_backup_vaults", "aws_cloudtrail", "aws_guardduty",
        "aws_waf_web_acls", "aws_apigateway_stages",
    }  # fmt: skip


#: Collectors whose AWS ARNs have no account field (S3 buckets, API Gateway stages): their
#: resource is the ARN with the account filled in, in a ``resource`` column beside ``arn``.
ACCOUNTLESS_ARNS = {"aws_s3_buckets", "aws_waf_web_acls", "aws_apigateway_stages"}


@pytest.mark.parametrize("cls", AWS, ids=lambda cls: cls.key)
def test_shared_connection_params_and_arn_resources(cls: type[Collector]) -> None:
    names = [p.name for p in cls.params]
    assert names[: len(aws.AWS_PARAMS)] == [p.name for p in aws.AWS_PARAMS]
    assert set(cls.secret_param_names()) == {"access_key_id", "secret_access_key", "session_token"}
    # Resources are ARNs that name the account (S3, API Gateway: the ARN with the account
    # filled in, in a ``resource`` column beside the real ``arn``).
    assert cls.resource_column == ("resource" if cls.key in ACCOUNTLESS_ARNS else "arn")
    assert "sts:GetCallerIdentity" in cls.permissions
    for a in cls.assertions:
        assert a.rationale
        assert any(c.startswith("soc2-2017:") for c in a.controls), a.id
        assert any(c.startswith("iso27001-2022:") for c in a.controls), a.id


def test_iam_policy_covers_every_permission_read_only() -> None:
    policy = iam_policy([*AWS, *(c for c in registry.all_collectors() if c.source != "aws")])
    assert policy["Version"] == "2012-10-17"
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert sorted(actions) == sorted({p for cls in AWS for p in cls.permissions})
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in policy["Statement"])
    assert not any(
        a.split(":")[1].startswith(("Put", "Create", "Delete", "Update")) for a in actions
    )
    assert "s3:ListAllMyBuckets" in actions and "s3:GetEncryptionConfiguration" in actions
    # API Gateway authorizes by HTTP verb (apigateway:GET), never by operation name.
    assert "apigateway:GET" in actions and not any(a.startswith("apigateway:Get") for a in actions)
    assert {"wafv2:ListWebACLs", "wafv2:GetWebACL", "wafv2:ListResourcesForWebACL"} <= set(actions)
    assert json.loads(json.dumps(policy)) == policy
    assert iam_policy(AWS) == iam_policy(list(reversed(AWS)))


def test_action_names_follow_iam_not_the_api() -> None:
    class Meta:
        class service_model:  # noqa: N801 - mimics botocore's attribute
            signing_name = "s3"

    class Client:
        meta = Meta

    assert aws.action_of(Client, "ListBuckets") == "s3:ListAllMyBuckets"
    assert aws.action_of(Client, "GetBucketPolicy") == "s3:GetBucketPolicy"
    assert aws.iam_action("apigateway:GetStages") == "apigateway:GET"
