"""aws_s3_buckets against moto: encryption, TLS-only policy, versioning, retention, denials."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from collectors import CollectorError, Status
from collectors.aws.aws_s3_buckets import S3BucketsCollector
from collectors.testing import run_collector

ACCOUNT = "123456789012"  # moto's
#: Findings name buckets by ARN with the account filled in (S3 ARNs carry none).
GOOD, BAD = f"arn:aws:s3::{ACCOUNT}:good-images", f"arn:aws:s3::{ACCOUNT}:bad-images"
RETENTION = {"aws_s3_buckets.lifecycle_expiration": {"tag_key": "data", "tag_value": "images"}}


def _tls_policy(name: str) -> str:
    arn = f"arn:aws:s3:::{name}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": ["s3:*"],
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
                }
            ],
        }
    )


def _seed(days_bad: int = 30) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="good-images")
    s3.put_bucket_encryption(
        Bucket="good-images",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_policy(Bucket="good-images", Policy=_tls_policy("good-images"))
    s3.put_bucket_versioning(Bucket="good-images", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket="good-images",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire",
                    "Status": "Enabled",
                    "Filter": {},
                    "Expiration": {"Days": 7},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                }
            ]
        },
    )
    eu = boto3.client("s3", region_name="eu-west-1")
    eu.create_bucket(
        Bucket="bad-images", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    eu.put_bucket_versioning(Bucket="bad-images", VersioningConfiguration={"Status": "Suspended"})
    eu.put_bucket_policy(
        Bucket="bad-images",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::bad-images/*"}
                ],
            }
        ),
    )  # fmt: skip
    eu.put_bucket_lifecycle_configuration(
        Bucket="bad-images",
        LifecycleConfiguration={
            "Rules": [
                {"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": days_bad}}
            ]
        },
    )
    for name in ("good-images", "bad-images"):
        boto3.client("s3").put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": "data", "Value": "images"}]}
        )
    s3.create_bucket(Bucket="other-logs")


def test_compliant_and_non_compliant_buckets(aws: None) -> None:
    _seed()
    result = run_collector(S3BucketsCollector, thresholds=RETENTION)
    assert [r["arn"] for r in result.rows] == sorted(r["arn"] for r in result.rows)
    assert result.identity == "arn:aws:sts::123456789012:user/moto"
    rows = {r["resource"]: r for r in result.rows}
    assert rows[BAD]["region"] == "eu-west-1" and rows[BAD]["arn"] == "arn:aws:s3:::bad-images"
    assert rows[GOOD]["tags"] == {"data": "images"}
    for assertion_id in (
        "aws_s3_buckets.default_encryption",
        "aws_s3_buckets.secure_transport",
        "aws_s3_buckets.versioning_enabled",
        "aws_s3_buckets.lifecycle_expiration",
    ):
        statuses = result.statuses(assertion_id)
        assert statuses[GOOD] is Status.PASS, assertion_id
        assert statuses[BAD] is Status.FAIL, assertion_id
    assert f"arn:aws:s3::{ACCOUNT}:other-logs" not in result.statuses(
        "aws_s3_buckets.lifecycle_expiration"
    )
    assert "suspended" in result.finding("aws_s3_buckets.versioning_enabled", BAD).message
    assert result.errors == []


def test_require_kms_variant_and_name_pattern_selector(aws: None) -> None:
    _seed(days_bad=5)
    thresholds = {
        "aws_s3_buckets.default_encryption": {"require_kms": True},
        "aws_s3_buckets.lifecycle_expiration": {"name_pattern": "*-images"},
    }
    result = run_collector(S3BucketsCollector, thresholds=thresholds)
    assert result.finding("aws_s3_buckets.default_encryption", GOOD).status is Status.FAIL
    retention = result.statuses("aws_s3_buckets.lifecycle_expiration")
    # bad-images expires in 5 days, but suspended versioning keeps noncurrent versions.
    assert retention == {GOOD: Status.PASS, BAD: Status.FAIL}
    message = result.finding("aws_s3_buckets.lifecycle_expiration", BAD).message
    assert "noncurrent" in message


def test_retention_without_selector_warns(aws: None) -> None:
    _seed()
    result = run_collector(S3BucketsCollector)
    assert result.statuses("aws_s3_buckets.lifecycle_expiration") == {"*": Status.WARN}


def test_prefix_only_rule_warns(aws: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="prefix-images")
    s3.put_bucket_lifecycle_configuration(
        Bucket="prefix-images",
        LifecycleConfiguration={
            "Rules": [
                {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                 "Expiration": {"Days": 1}}
            ]
        },
    )  # fmt: skip
    result = run_collector(
        S3BucketsCollector,
        thresholds={"aws_s3_buckets.lifecycle_expiration": {"name_pattern": "prefix-*"}},
    )
    finding = result.finding(
        "aws_s3_buckets.lifecycle_expiration", f"arn:aws:s3::{ACCOUNT}:prefix-images"
    )
    assert finding.status is Status.WARN


def test_access_denied_on_one_call_is_an_error_for_that_bucket_only(aws: None, hooked: Any) -> None:
    _seed()
    result = run_collector(
        S3BucketsCollector,
        thresholds=RETENTION,
        aws_session_factory=hooked(deny=("GetBucketEncryption",)),
    )
    finding = result.finding("aws_s3_buckets.default_encryption", GOOD)
    assert finding.status is Status.ERROR
    assert f"AccessDenied on s3:GetEncryptionConfiguration for {GOOD}" in (finding.message)
    assert result.finding("aws_s3_buckets.secure_transport", GOOD).status is Status.PASS
    assert {e["action"] for e in result.errors} == {"s3:GetEncryptionConfiguration"}


def test_denied_listing_is_a_permanent_collector_error(aws: None, hooked: Any) -> None:
    _seed()
    with pytest.raises(CollectorError) as info:
        run_collector(S3BucketsCollector, aws_session_factory=hooked(deny=("ListBuckets",)))
    assert info.value.permanent is True
    assert info.value.action == "s3:ListAllMyBuckets"
    assert "AccessDenied on s3:ListAllMyBuckets" in str(info.value)


def test_regions_param_filters_buckets(aws: None) -> None:
    _seed()
    result = run_collector(S3BucketsCollector, {"regions": ["eu-west-1"]})
    assert [r["resource"] for r in result.rows] == [BAD]


def test_a_bucket_that_cannot_be_placed_is_error_not_dropped(aws: None, hooked: Any) -> None:
    """Issue 13.8: with a regions filter and GetBucketLocation denied, every bucket is an
    ERROR (in scope or not is unknown), never silently left out."""
    _seed()
    listed = boto3.client("s3").list_buckets()["Buckets"]
    if any(b.get("BucketRegion") for b in listed):
        pytest.skip("this moto lists bucket regions: GetBucketLocation is not needed")
    factory = hooked(deny=("GetBucketLocation",))
    result = run_collector(
        S3BucketsCollector, {"regions": ["eu-west-1"]}, thresholds=RETENTION,
        aws_session_factory=factory,
    )  # fmt: skip
    arns = [r["resource"] for r in result.rows]
    assert arns == [BAD, GOOD, f"arn:aws:s3::{ACCOUNT}:other-logs"]
    assert all(row["region"] is None for row in result.rows)
    for assertion_id in (
        "aws_s3_buckets.default_encryption",
        "aws_s3_buckets.secure_transport",
        "aws_s3_buckets.versioning_enabled",
        "aws_s3_buckets.lifecycle_expiration",
    ):
        statuses = result.statuses(assertion_id)
        assert {statuses[arn] for arn in arns} == {Status.ERROR}, assertion_id
    message = result.finding("aws_s3_buckets.default_encryption", BAD).message
    assert "AccessDenied on s3:GetBucketLocation" in message and "eu-west-1" in message
    # nothing about an unplaced bucket was read from it (its scope is unknown)
    assert "s3:GetEncryptionConfiguration" not in {e["action"] for e in result.errors}


def test_without_a_regions_filter_an_unplaced_bucket_is_still_described(
    aws: None, hooked: Any
) -> None:
    _seed()
    result = run_collector(
        S3BucketsCollector, thresholds=RETENTION,
        aws_session_factory=hooked(deny=("GetBucketLocation",)),
    )  # fmt: skip
    assert result.finding("aws_s3_buckets.default_encryption", GOOD).status is Status.PASS
    assert result.finding("aws_s3_buckets.default_encryption", BAD).status is Status.FAIL


def test_unread_tags_never_mean_not_selected(aws: None, hooked: Any) -> None:
    """Tags are a retention selector: unread tags are ERROR, and "*" says nothing matched
    only when every bucket's tags were read."""
    _seed()
    factory = hooked(deny=("GetBucketTagging",))
    result = run_collector(S3BucketsCollector, thresholds=RETENTION, aws_session_factory=factory)
    assert all(row["tags"] is None for row in result.rows)
    statuses = result.statuses("aws_s3_buckets.lifecycle_expiration")
    assert statuses["*"] is Status.ERROR
    others = f"arn:aws:s3::{ACCOUNT}:other-logs"
    assert {statuses[arn] for arn in (GOOD, BAD, others)} == {Status.ERROR}
    assert "could not be read" in result.finding("aws_s3_buckets.lifecycle_expiration", "*").message


def _deny_http(name: str, **overrides: Any) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{name}"
    statement: dict[str, Any] = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    statement.update(overrides)
    return statement


def test_secure_transport_policy_shapes(aws: None) -> None:
    """Equivalent spellings pass; a deny narrowed to part of the bucket or of the requests fails."""
    shapes: dict[str, dict[str, Any]] = {
        # equivalent spellings of "deny every request made without TLS"
        "tls-bool-false": {"Condition": {"Bool": {"aws:SecureTransport": False}}},
        "tls-ifexists": {
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject", "*"],
            "Condition": {"BoolIfExists": {"aws:SecureTransport": ["false"]}},
        },
        "tls-star-resource": {"Resource": "*"},
        # not a TLS requirement for the whole bucket
        "tls-some-actions": {"Action": ["s3:GetObject", "s3:PutObject"]},
        "tls-one-account": {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
        "tls-true": {"Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        "tls-prefix-only": {"Resource": "arn:aws:s3:::tls-prefix-only/logs/*"},
        "tls-narrowed": {
            "Condition": {
                "Bool": {"aws:SecureTransport": "false"},
                "StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"},
            }
        },
    }
    s3 = boto3.client("s3", region_name="us-east-1")
    for name, overrides in shapes.items():
        s3.create_bucket(Bucket=name)
        policy = {"Version": "2012-10-17", "Statement": [_deny_http(name, **overrides)]}
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    statuses = run_collector(S3BucketsCollector).statuses("aws_s3_buckets.secure_transport")
    assert statuses == {
        f"arn:aws:s3::{ACCOUNT}:tls-bool-false": Status.PASS,
        f"arn:aws:s3::{ACCOUNT}:tls-ifexists": Status.PASS,
        f"arn:aws:s3::{ACCOUNT}:tls-star-resource": Status.PASS,
        f"arn:aws:s3::{ACCOUNT}:tls-some-actions": Status.FAIL,
        f"arn:aws:s3::{ACCOUNT}:tls-one-account": Status.FAIL,
        f"arn:aws:s3::{ACCOUNT}:tls-true": Status.FAIL,
        f"arn:aws:s3::{ACCOUNT}:tls-prefix-only": Status.FAIL,
        f"arn:aws:s3::{ACCOUNT}:tls-narrowed": Status.FAIL,
    }


def test_findings_name_buckets_with_their_account(aws: None) -> None:
    # Issue 12.2: a bucket's ARN (arn:aws:s3:::name) names no account, so results of two
    # accounts' connections could not be told apart; findings carry the account now.
    _seed()
    result = run_collector(S3BucketsCollector, thresholds=RETENTION)
    for row in result.rows:
        assert row["resource"] == f"arn:aws:s3::{row['account_id']}:{row['name']}"
        assert row["arn"] == f"arn:aws:s3:::{row['name']}"  # the real ARN stays a column
    resources = {f.resource for f in result.findings}
    assert resources <= {r["resource"] for r in result.rows} | {"*"}
    assert all(r.split(":")[4] == ACCOUNT for r in resources if r != "*")
