"""aws_kms_keys: rotation of customer-managed symmetric keys; other keys are not evaluated."""

from __future__ import annotations

from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_kms_keys import KmsKeysCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}


def _keys() -> tuple[str, str, str]:
    us = boto3.client("kms", region_name="us-east-1")
    good = us.create_key(Description="uploads")["KeyMetadata"]["Arn"]
    us.enable_key_rotation(KeyId=good)
    us.create_alias(AliasName="alias/uploads", TargetKeyId=good)
    bad = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
    signing = us.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    return good, bad, signing


def test_rotation_enabled(aws: None) -> None:
    good, bad, signing = _keys()
    result = run_collector(KmsKeysCollector, PARAMS)
    assert result.statuses("aws_kms_keys.rotation_enabled") == {
        good: Status.PASS,
        bad: Status.FAIL,
    }
    rows = {r["arn"]: r for r in result.rows}
    assert rows[good]["aliases"] == ["alias/uploads"]
    assert rows[signing]["rotation_enabled"] is None
    assert "alias/uploads" in result.finding("aws_kms_keys.rotation_enabled", good).message


def test_denied_rotation_status_is_an_error_for_the_key(aws: None, hooked: Any) -> None:
    good, _, _ = _keys()
    result = run_collector(
        KmsKeysCollector, PARAMS, aws_session_factory=hooked(deny=("GetKeyRotationStatus",))
    )
    finding = result.finding("aws_kms_keys.rotation_enabled", good)
    assert finding.status is Status.ERROR
    assert f"AccessDenied on kms:GetKeyRotationStatus for {good}" in finding.message
