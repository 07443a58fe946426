"""aws_iam_account: root MFA, root access keys and the password policy thresholds."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from collectors import CollectorError, Status
from collectors.aws.aws_iam_account import IamAccountCollector
from collectors.testing import run_collector

ROOT = "arn:aws:iam::123456789012:root"
STRONG = {
    "MinimumPasswordLength": 16,
    "PasswordReusePrevention": 24,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
}


def test_root_without_mfa_and_no_password_policy(aws: None) -> None:
    result = run_collector(IamAccountCollector)
    assert result.finding("aws_iam_account.root_mfa", ROOT).status is Status.FAIL
    assert result.finding("aws_iam_account.no_root_access_keys", ROOT).status is Status.PASS
    policy = result.finding("aws_iam_account.password_policy", ROOT)
    assert policy.status is Status.FAIL and "no IAM password policy" in policy.message


def test_strong_and_weak_password_policies(aws: None) -> None:
    iam = boto3.client("iam")
    iam.update_account_password_policy(**STRONG)
    assert (
        run_collector(IamAccountCollector).finding("aws_iam_account.password_policy", ROOT).status
        is Status.PASS
    )
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireSymbols=True)
    weak = run_collector(IamAccountCollector).finding("aws_iam_account.password_policy", ROOT)
    assert weak.status is Status.FAIL
    assert "8-character passwords (minimum 14)" in weak.message
    assert "RequireNumbers" in weak.message
    expiry = run_collector(
        IamAccountCollector,
        thresholds={
            "aws_iam_account.password_policy": {
                "min_length": 8,
                "reuse_prevention": 0,
                "require_numbers": False,
                "require_uppercase": False,
                "require_lowercase": False,
                "max_age_days": 90,
            }
        },
    ).finding("aws_iam_account.password_policy", ROOT)
    assert expiry.status is Status.FAIL and "forever" in expiry.message


def test_root_with_mfa_and_keys(aws: None, hooked: Any) -> None:
    summary = {"SummaryMap": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 1, "Users": 3}}
    result = run_collector(
        IamAccountCollector, aws_session_factory=hooked(fake={"GetAccountSummary": summary})
    )
    assert result.finding("aws_iam_account.root_mfa", ROOT).status is Status.PASS
    assert result.finding("aws_iam_account.no_root_access_keys", ROOT).status is Status.FAIL
    assert result.rows[0]["summary"] == {
        "AccountAccessKeysPresent": 1,
        "AccountMFAEnabled": 1,
        "Users": 3,
    }


def test_denied_password_policy_is_an_error_root_checks_go_on(aws: None, hooked: Any) -> None:
    result = run_collector(
        IamAccountCollector, aws_session_factory=hooked(deny=("GetAccountPasswordPolicy",))
    )
    finding = result.finding("aws_iam_account.password_policy", ROOT)
    assert finding.status is Status.ERROR
    assert "AccessDenied on iam:GetAccountPasswordPolicy" in finding.message
    assert result.finding("aws_iam_account.root_mfa", ROOT).status is Status.FAIL


def test_everything_denied_is_a_permanent_error(aws: None, hooked: Any) -> None:
    factory = hooked(deny=("GetAccountPasswordPolicy", "GetAccountSummary"))
    with pytest.raises(CollectorError) as info:
        run_collector(IamAccountCollector, aws_session_factory=factory)
    assert info.value.permanent and info.value.action == "iam:GetAccountSummary"


def test_unread_root_settings_are_errors_in_the_checks_themselves(aws: None, hooked: Any) -> None:
    """Issue 12.9: an unread account summary is never a PASS ("no root keys") by default."""
    result = run_collector(
        IamAccountCollector, aws_session_factory=hooked(deny=("GetAccountSummary",))
    )
    assert result.finding("aws_iam_account.root_mfa", ROOT).status is Status.ERROR
    assert result.finding("aws_iam_account.no_root_access_keys", ROOT).status is Status.ERROR
    row = result.rows[0]
    assert row["root_mfa_enabled"] is None and row["root_access_keys_present"] is None
    by_id = IamAccountCollector.assertions_by_id
    for assertion_id in ("aws_iam_account.root_mfa", "aws_iam_account.no_root_access_keys"):
        assert by_id[assertion_id].check(row, {}).status is Status.ERROR
