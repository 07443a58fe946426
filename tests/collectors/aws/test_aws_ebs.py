"""aws_ebs: EBS encryption by default per region, region discovery and a denied region."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from collectors import CollectorError, Status
from collectors.aws.aws_ebs import EbsCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}
US = "arn:aws:ec2:us-east-1:123456789012:ebs-encryption-by-default"
EU = "arn:aws:ec2:eu-west-1:123456789012:ebs-encryption-by-default"


def test_default_encryption_per_region(aws: None) -> None:
    boto3.client("ec2", region_name="us-east-1").enable_ebs_encryption_by_default()
    result = run_collector(EbsCollector, PARAMS)
    assert result.statuses("aws_ebs.default_encryption") == {US: Status.PASS, EU: Status.FAIL}
    assert result.api_calls == [
        "ec2:GetEbsEncryptionByDefault",
        "sts:GetCallerIdentity",
    ]


def test_every_enabled_region_by_default(aws: None) -> None:
    result = run_collector(EbsCollector)
    regions = [row["region"] for row in result.rows]
    assert len(regions) > 10 and "eu-west-1" in regions and "us-east-1" in regions
    assert "ec2:DescribeRegions" in result.api_calls


def test_region_discovery_denied_falls_back_to_session_region(aws: None, hooked: Any) -> None:
    result = run_collector(EbsCollector, aws_session_factory=hooked(deny=("DescribeRegions",)))
    assert [row["region"] for row in result.rows] == ["us-east-1"]
    error = result.finding("aws_ebs.default_encryption", "*")
    assert error.status is Status.ERROR
    assert "ec2:DescribeRegions" in error.message


def test_one_denied_region_is_an_error_the_others_are_collected(aws: None, hooked: Any) -> None:
    factory = hooked(deny=("GetEbsEncryptionByDefault",), regions=("eu-west-1",))
    result = run_collector(EbsCollector, PARAMS, aws_session_factory=factory)
    assert [row["region"] for row in result.rows] == ["us-east-1"]
    # Issue 12.9: the unread region keeps its own name, as ERROR (not a "*" next to a
    # region that vanished from the evidence).
    eu = "arn:aws:ec2:eu-west-1:123456789012:ebs-encryption-by-default"
    assert result.statuses("aws_ebs.default_encryption") == {
        eu: Status.ERROR,
        "arn:aws:ec2:us-east-1:123456789012:ebs-encryption-by-default": Status.FAIL,
    }
    assert result.finding("aws_ebs.default_encryption", eu).message == (
        "AccessDenied on ec2:GetEbsEncryptionByDefault in eu-west-1: the region's setting "
        "was not read"
    )


def test_all_regions_denied_is_a_permanent_error(aws: None, hooked: Any) -> None:
    with pytest.raises(CollectorError) as info:
        run_collector(
            EbsCollector, PARAMS, aws_session_factory=hooked(deny=("GetEbsEncryptionByDefault",))
        )
    assert info.value.permanent and info.value.action == "ec2:GetEbsEncryptionByDefault"


def test_bad_credentials_are_a_permanent_error(aws: None, hooked: Any) -> None:
    factory = hooked(deny=("GetCallerIdentity",), code="InvalidClientTokenId")
    with pytest.raises(CollectorError) as info:
        run_collector(EbsCollector, PARAMS, aws_session_factory=factory)
    assert info.value.permanent and info.value.action == "sts:GetCallerIdentity"
