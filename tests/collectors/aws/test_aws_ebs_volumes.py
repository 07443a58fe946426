"""aws_ebs_volumes: encrypted and unencrypted volumes across two regions."""

from __future__ import annotations

import boto3

from collectors import Status
from collectors.aws.aws_ebs_volumes import EbsVolumesCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}


def test_encrypted_and_unencrypted_volumes(aws: None) -> None:
    good = boto3.client("ec2", region_name="us-east-1").create_volume(
        AvailabilityZone="us-east-1a", Size=8, Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "app", "Value": "web"}]}],
    )["VolumeId"]  # fmt: skip
    bad = boto3.client("ec2", region_name="eu-west-1").create_volume(
        AvailabilityZone="eu-west-1a", Size=8, Encrypted=False
    )["VolumeId"]
    result = run_collector(EbsVolumesCollector, PARAMS)
    good_arn = f"arn:aws:ec2:us-east-1:123456789012:volume/{good}"
    bad_arn = f"arn:aws:ec2:eu-west-1:123456789012:volume/{bad}"
    assert result.statuses("aws_ebs_volumes.encrypted") == {
        good_arn: Status.PASS,
        bad_arn: Status.FAIL,
    }
    row = next(r for r in result.rows if r["arn"] == good_arn)
    assert row["tags"] == {"app": "web"} and row["size_gib"] == 8
    assert "ec2:DescribeVolumes" in result.api_calls
