"""aws_cloudtrail: one qualifying multi-region trail, or what each trail lacks."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from collectors import Status
from collectors.aws.aws_cloudtrail import CloudTrailCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}


def _bucket() -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="trail-logs")


def test_multi_region_logging_trail_passes(aws: None) -> None:
    _bucket()
    trails = boto3.client("cloudtrail", region_name="us-east-1")
    trails.create_trail(
        Name="org-trail", S3BucketName="trail-logs", IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
    )  # fmt: skip
    trails.start_logging(Name="org-trail")
    boto3.client("cloudtrail", region_name="eu-west-1").create_trail(
        Name="eu-trail", S3BucketName="trail-logs"
    )
    result = run_collector(CloudTrailCollector, PARAMS)
    assert [r["name"] for r in result.rows] == ["eu-trail", "org-trail"]
    finding = result.finding("aws_cloudtrail.multi_region_trail", "*")
    assert finding.status is Status.PASS and "org-trail" in finding.message


def test_trails_that_do_not_qualify_fail(aws: None) -> None:
    _bucket()
    trails = boto3.client("cloudtrail", region_name="us-east-1")
    trails.create_trail(Name="no-validation", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    trails.start_logging(Name="no-validation")
    trails.create_trail(Name="stopped", S3BucketName="trail-logs", EnableLogFileValidation=True)
    trails.put_event_selectors(
        TrailName="stopped",
        EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}],
    )
    finding = run_collector(CloudTrailCollector, PARAMS).finding(
        "aws_cloudtrail.multi_region_trail", "*"
    )
    assert finding.status is Status.FAIL
    assert "no-validation: no log file validation" in finding.message
    assert "stopped: single-region, not logging, not all management events" in finding.message


def test_no_trail_fails(aws: None) -> None:
    finding = run_collector(CloudTrailCollector, PARAMS).finding(
        "aws_cloudtrail.multi_region_trail", "*"
    )
    assert finding.status is Status.FAIL and "no CloudTrail trail" in finding.message


def _org_trail(*, logging: bool = True) -> str:
    """A logging, validated, multi-region organization trail homed in us-east-1.

    moto accepts ``IsOrganizationTrail=True`` without an organization, but keeps trails per
    account: a trail created in a management account is invisible to a member account, so
    that view is faked with a ``DescribeTrails`` answer (below).
    """
    _bucket()
    trails = boto3.client("cloudtrail", region_name="us-east-1")
    arn = trails.create_trail(
        Name="org-trail", S3BucketName="trail-logs", IsMultiRegionTrail=True,
        EnableLogFileValidation=True, IsOrganizationTrail=True,
    )["TrailARN"]  # fmt: skip
    if logging:
        trails.start_logging(Name="org-trail")
    return arn


def test_organization_trail_seen_as_shadow_trail_passes(aws: None) -> None:
    arn = _org_trail()
    result = run_collector(CloudTrailCollector, {"regions": ["eu-west-1"]})
    [row] = result.rows
    assert row["arn"] == arn and row["home_region"] == "us-east-1"
    assert row["organization_trail"] is True and row["logging"] is True
    assert row["owner_account_id"] == row["account_id"]
    assert result.errors == []
    finding = result.finding("aws_cloudtrail.multi_region_trail", "*")
    assert finding.status is Status.PASS and "org-trail" in finding.message


def test_trail_returned_by_several_regions_is_one_row(aws: None) -> None:
    arn = _org_trail()
    result = run_collector(CloudTrailCollector, PARAMS)
    assert [row["arn"] for row in result.rows] == [arn]
    assert result.finding("aws_cloudtrail.multi_region_trail", "*").status is Status.PASS


def test_denied_status_of_organization_trail_is_error_not_pass(aws: None, hooked: Any) -> None:
    arn = _org_trail()
    result = run_collector(
        CloudTrailCollector, {"regions": ["eu-west-1"]},
        aws_session_factory=hooked(deny=("GetTrailStatus",)),
    )  # fmt: skip
    assert result.rows[0]["logging"] is None
    statuses = result.statuses("aws_cloudtrail.multi_region_trail")
    assert statuses == {"*": Status.ERROR, arn: Status.ERROR}
    error = result.finding("aws_cloudtrail.multi_region_trail", arn).message
    assert "AccessDenied on cloudtrail:GetTrailStatus for organization trail" in error
    assert arn in error and "grant cloudtrail:GetTrailStatus" in error
    assert (
        "logging state unknown" in result.finding("aws_cloudtrail.multi_region_trail", "*").message
    )


def _foreign_org_trail(arn: str, *, custom_selectors: bool = False) -> dict[str, Any]:
    return {
        "trailList": [
            {
                "Name": "org-trail",
                "TrailARN": arn,
                "HomeRegion": "us-east-1",
                "S3BucketName": "acme-cloudtrail-logs",
                "IsMultiRegionTrail": True,
                "IsOrganizationTrail": True,
                "LogFileValidationEnabled": True,
                "HasCustomEventSelectors": custom_selectors,
            }
        ]
    }


@pytest.mark.parametrize("custom_selectors", [False, True])
def test_member_account_sees_management_account_organization_trail(
    aws: None, hooked: Any, custom_selectors: bool
) -> None:
    arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"
    factory = hooked(
        fake={
            "DescribeTrails": _foreign_org_trail(arn, custom_selectors=custom_selectors),
            "GetTrailStatus": lambda _: {"IsLogging": True},
        },
        # the API refuses another account's trail ARN: the collector must not ask
        deny=("GetEventSelectors",),
        code="CloudTrailARNInvalidException",
    )
    result = run_collector(CloudTrailCollector, PARAMS, aws_session_factory=factory)
    [row] = result.rows
    assert row["owner_account_id"] == "111122223333" and row["account_id"] != "111122223333"
    assert row["organization_trail"] is True and row["logging"] is True
    assert result.errors == []
    finding = result.finding("aws_cloudtrail.multi_region_trail", "*")
    if custom_selectors:
        assert finding.status is Status.ERROR
        assert "readable only in owner account 111122223333" in finding.message
    else:
        assert finding.status is Status.PASS and "org-trail" in finding.message


def test_no_trail_seen_with_a_region_unread_is_an_error_not_a_fail(aws: None, hooked: Any) -> None:
    """Issue 12.9: "the account has no trail" cannot be claimed with a region unread."""
    factory = hooked(deny=("DescribeTrails",), regions=("eu-west-1",))
    result = run_collector(CloudTrailCollector, PARAMS, aws_session_factory=factory)
    star = [f for f in result.findings_for("aws_cloudtrail.multi_region_trail")]
    assert [(f.resource, f.status) for f in star] == [("*", Status.ERROR)]
    assert "cloudtrail:DescribeTrails in eu-west-1" in star[0].message


def test_a_qualifying_trail_still_passes_with_a_region_unread(aws: None, hooked: Any) -> None:
    _bucket()
    trails = boto3.client("cloudtrail", region_name="us-east-1")
    trails.create_trail(
        Name="org-trail", S3BucketName="trail-logs", IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
    )  # fmt: skip
    trails.start_logging(Name="org-trail")
    factory = hooked(deny=("DescribeTrails",), regions=("eu-west-1",))
    result = run_collector(CloudTrailCollector, PARAMS, aws_session_factory=factory)
    statuses = sorted(f.status for f in result.findings_for("aws_cloudtrail.multi_region_trail"))
    # the witness stands; the unread region is reported beside it
    assert statuses == sorted([Status.PASS, Status.ERROR])
