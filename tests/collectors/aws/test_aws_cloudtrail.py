"""aws_cloudtrail: one qualifying multi-region trail, or what each trail lacks."""

from __future__ import annotations

import boto3

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
