"""aws_iam_users: identity population, MFA, key age and unused credentials (frozen clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_iam_users import IamUsersCollector
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.testing import run_collector

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
CI = "arn:aws:iam::123456789012:user/ci"
ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def _users() -> str:
    iam = boto3.client("iam")
    policy = iam.create_policy(PolicyName="AdministratorAccess", PolicyDocument=ADMIN)["Policy"][
        "Arn"
    ]
    iam.create_group(GroupName="Admins")
    iam.attach_group_policy(GroupName="Admins", PolicyArn=policy)
    for name in ("alice", "bob", "ci"):
        iam.create_user(UserName=name)
    for name in ("alice", "bob"):
        iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
        iam.add_user_to_group(GroupName="Admins", UserName=name)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName="alice", SerialNumber=serial, AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )  # fmt: skip
    iam.put_user_policy(UserName="ci", PolicyName="deploy", PolicyDocument=ADMIN)
    return iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]


def test_identity_population_and_mfa(aws: None) -> None:
    key_id = _users()
    result = run_collector(IamUsersCollector)
    assert IamUsersCollector.identity_population is True
    assert [r["arn"] for r in result.rows] == [ALICE, BOB, CI]
    alice = result.rows[0]
    assert set(IDENTITY_COLUMN_NAMES) <= set(alice)
    assert alice["source"] == "aws:123456789012" and alice["display_name"] == "alice"
    assert alice["privileges"] == ["group-policy:Admins/AdministratorAccess", "group:Admins"]
    assert alice["is_privileged"] is True and alice["mfa_enabled"] is True
    ci = result.rows[2]
    assert ci["console_access"] is False and ci["inline_policies"] == ["deploy"]
    assert ci["access_keys"][0]["access_key_id"] == key_id
    assert ci["status"] == "active" and ci["is_privileged"] is False
    assert result.statuses("aws_iam_users.mfa_for_console") == {
        ALICE: Status.PASS,
        BOB: Status.FAIL,
    }
    assert result.statuses("aws_iam_users.mfa_for_privileged") == {
        ALICE: Status.PASS,
        BOB: Status.FAIL,
    }
    assert result.statuses("aws_iam_users.access_key_age") == {CI: Status.PASS}
    assert set(result.statuses("aws_iam_users.unused_credentials").values()) == {Status.PASS}


def test_old_and_unused_credentials_fail_later(aws: None) -> None:
    _users()
    later = datetime.now(UTC) + timedelta(days=120)
    result = run_collector(IamUsersCollector, now=later)
    assert result.statuses("aws_iam_users.access_key_age") == {CI: Status.FAIL}
    assert result.statuses("aws_iam_users.unused_credentials") == {
        ALICE: Status.FAIL,
        BOB: Status.FAIL,
        CI: Status.FAIL,
    }
    assert (
        "console password (120 days)"
        in result.finding("aws_iam_users.unused_credentials", BOB).message
    )
    tolerant = run_collector(
        IamUsersCollector,
        now=later,
        thresholds={
            "aws_iam_users.access_key_age": {"max_days": 180},
            "aws_iam_users.unused_credentials": {"max_days": 180},
        },
    )
    assert tolerant.statuses("aws_iam_users.access_key_age") == {CI: Status.PASS}


def test_denied_mfa_listing_is_an_error_per_user(aws: None, hooked: Any) -> None:
    _users()
    result = run_collector(IamUsersCollector, aws_session_factory=hooked(deny=("ListMFADevices",)))
    finding = result.finding("aws_iam_users.mfa_for_console", ALICE)
    assert finding.status is Status.ERROR
    assert f"AccessDenied on iam:ListMFADevices for {ALICE}" in finding.message
    assert result.rows[0]["mfa_enabled"] is None
    assert result.statuses("aws_iam_users.access_key_age") == {CI: Status.PASS}


def test_unread_group_policies_never_make_an_administrator_ordinary(aws: None, hooked: Any) -> None:
    """Issue 13.8: privilege is a filter; when it is unknown the user is ERROR, not absent."""
    _users()
    factory = hooked(deny=("ListAttachedGroupPolicies",))
    result = run_collector(IamUsersCollector, aws_session_factory=factory)
    bob = next(r for r in result.rows if r["arn"] == BOB)
    alice = next(r for r in result.rows if r["arn"] == ALICE)
    ci = next(r for r in result.rows if r["arn"] == CI)
    assert bob["is_privileged"] is None and alice["is_privileged"] is None
    assert ci["is_privileged"] is False  # in no group, own policies read: known
    statuses = result.statuses("aws_iam_users.mfa_for_privileged")
    # bob (no MFA) may be an administrator without MFA: ERROR; alice has MFA: the
    # requirement holds whatever her privileges; the unread group is an ERROR of its own.
    assert statuses == {
        BOB: Status.ERROR,
        "arn:aws:iam::123456789012:group/Admins": Status.ERROR,
    }
    assert (
        "whether it is an administrator could not be read"
        in result.finding("aws_iam_users.mfa_for_privileged", BOB).message
    )
