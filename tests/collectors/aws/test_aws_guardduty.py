"""aws_guardduty: enabled, suspended and never-enabled regions."""

from __future__ import annotations

from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_guardduty import GuardDutyCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1", "us-west-2"]}


def test_guardduty_per_region(aws: None) -> None:
    us = boto3.client("guardduty", region_name="us-east-1").create_detector(Enable=True)
    eu = boto3.client("guardduty", region_name="eu-west-1").create_detector(Enable=False)
    result = run_collector(GuardDutyCollector, PARAMS)
    base = "arn:aws:guardduty:{}:123456789012:detector"
    assert result.statuses("aws_guardduty.enabled") == {
        f"{base.format('us-east-1')}/{us['DetectorId']}": Status.PASS,
        f"{base.format('eu-west-1')}/{eu['DetectorId']}": Status.FAIL,
        base.format("us-west-2"): Status.FAIL,
    }
    never = result.finding("aws_guardduty.enabled", base.format("us-west-2"))
    assert "never been enabled in us-west-2" in never.message


def test_an_unreadable_region_is_an_error_under_its_own_name(aws: None, hooked: Any) -> None:
    """Issue 12.9: a region that could not be read is ERROR, never a FAIL nor absent."""
    us = boto3.client("guardduty", region_name="us-east-1").create_detector(Enable=True)
    factory = hooked(deny=("ListDetectors",), regions=("eu-west-1",))
    result = run_collector(GuardDutyCollector, PARAMS, aws_session_factory=factory)
    base = "arn:aws:guardduty:{}:123456789012:detector"
    assert result.statuses("aws_guardduty.enabled") == {
        f"{base.format('us-east-1')}/{us['DetectorId']}": Status.PASS,
        base.format("eu-west-1"): Status.ERROR,
        base.format("us-west-2"): Status.FAIL,
    }
    message = result.finding("aws_guardduty.enabled", base.format("eu-west-1")).message
    assert "guardduty:ListDetectors in eu-west-1" in message


def test_an_unreadable_detector_status_is_an_error(aws: None, hooked: Any) -> None:
    eu = boto3.client("guardduty", region_name="eu-west-1").create_detector(Enable=True)
    factory = hooked(deny=("GetDetector",), regions=("eu-west-1",))
    result = run_collector(GuardDutyCollector, PARAMS, aws_session_factory=factory)
    arn = f"arn:aws:guardduty:eu-west-1:123456789012:detector/{eu['DetectorId']}"
    assert result.finding("aws_guardduty.enabled", arn).status is Status.ERROR
    row = next(r for r in result.rows if r["arn"] == arn)
    assert row["status"] is None
    assert GuardDutyCollector.assertions_by_id["aws_guardduty.enabled"].check(row, {}).status is (
        Status.ERROR
    )
