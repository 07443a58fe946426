"""End to end: every AWS collector against a moto server on 127.0.0.1 via AWS_ENDPOINT_URL.

The server is the sandbox of ``make demo`` (``pixaudit.demo.aws_sandbox``); this is how
users reach LocalStack or VPC endpoints. Every assertion must produce both a PASS and a
FAIL (or the documented WARN) on the seeded mix, every API call must be covered by the
collector's declared permissions, and nothing may error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors import Status, registry
from collectors.aws import _common as aws
from collectors.testing import run_collector
from pixaudit.demo.aws_sandbox import SANDBOX_PARAMS, seed_sandbox, start_moto_server

registry.discover(strict=True)
AWS = [cls for cls in registry.all_collectors() if cls.source == "aws"]
THRESHOLDS = {"aws_s3_buckets.lifecycle_expiration": {"tag_key": "data", "tag_value": "images"}}
#: Assertions the sandbox can only show one way (moto cannot enable root MFA or age keys).
ONE_SIDED = {
    "aws_iam_account.root_mfa": {Status.FAIL},
    "aws_iam_account.no_root_access_keys": {Status.PASS},
    "aws_iam_account.password_policy": {Status.PASS},
    "aws_iam_users.access_key_age": {Status.PASS},
    "aws_iam_users.unused_credentials": {Status.PASS},
    "aws_cloudtrail.multi_region_trail": {Status.PASS},
    "aws_backup_plans.configured": {Status.PASS, Status.WARN},
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    url, stop = start_moto_server()
    try:
        seed_sandbox(url, n=2)
        yield url
    finally:
        stop()


@pytest.mark.parametrize("cls", AWS, ids=lambda cls: cls.key)
def test_collector_end_to_end(
    cls: type, sandbox: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox)
    thresholds = {k: v for k, v in THRESHOLDS.items() if k.startswith(cls.key + ".")}
    result = run_collector(cls, SANDBOX_PARAMS, thresholds=thresholds)
    assert result.errors == []
    assert result.rows and result.identity == "arn:aws:sts::123456789012:user/moto"
    assert [r["arn"] for r in result.rows] == sorted(r["arn"] for r in result.rows)
    for a in cls.assertions:
        seen = {f.status for f in result.findings_for(a.id)}
        assert seen == ONE_SIDED.get(a.id, {Status.PASS, Status.FAIL}), a.id
    undeclared = {aws.iam_action(call) for call in result.api_calls} - set(cls.permissions)
    assert undeclared == set()


def test_default_regions_through_the_endpoint(
    sandbox: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox)
    result = run_collector("aws_guardduty", {"access_key_id": "testing",
                                             "secret_access_key": "testing"})  # fmt: skip
    assert len(result.rows) > 10
    assert "ec2:DescribeRegions" in result.api_calls
