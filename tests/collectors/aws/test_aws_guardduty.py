"""aws_guardduty: enabled, suspended and never-enabled regions."""

from __future__ import annotations

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
