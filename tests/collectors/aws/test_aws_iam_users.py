"""aws_iam_users: identity population, MFA, key age and unused credentials (frozen clock)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3

from collectors import Status
from collectors.aws.aws_iam_users import IamUsersCollector
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.testing import make_context, run_collector

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
    """With no virtual-device list, a user the report shows with MFA gets ListMFADevices;
    when that is denied too the devices are unknown: ERROR for that user, never PASS."""
    _users()
    factory = hooked(deny=("ListMFADevices", "ListVirtualMFADevices"))
    result = run_collector(IamUsersCollector, aws_session_factory=factory)
    finding = result.finding("aws_iam_users.mfa_for_console", ALICE)
    assert finding.status is Status.ERROR
    assert f"AccessDenied on iam:ListMFADevices for {ALICE}" in finding.message
    assert result.rows[0]["mfa_devices"] == []
    assert result.rows[0]["mfa_enabled"] is True  # the credential report says so
    assert result.statuses("aws_iam_users.mfa_for_console")[BOB] is Status.FAIL
    assert result.statuses("aws_iam_users.access_key_age") == {CI: Status.PASS}


def test_unread_group_policies_never_make_an_administrator_ordinary(aws: None, hooked: Any) -> None:
    """Issue 13.8: privilege is a filter; when it is unknown the user is ERROR, not absent."""
    _users()
    details = boto3.client("iam").get_account_authorization_details(Filter=["User", "Group"])
    details["GroupDetailList"] = []  # the group's policies were not seen
    for user in details["UserDetailList"]:  # botocore decodes them again on the way in
        for policy in user.get("UserPolicyList") or []:
            policy["PolicyDocument"] = quote(json.dumps(policy["PolicyDocument"]))
    factory = hooked(fake={"GetAccountAuthorizationDetails": details})
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


def _counted(**kwargs: Any) -> tuple[Any, Any]:
    ctx = make_context({}, **kwargs)
    return run_collector(IamUsersCollector, ctx=ctx), ctx


def test_calls_are_at_the_floor_not_per_user(aws: None) -> None:
    """Issue 17: the report and the authorization details, per user only for key ids."""
    _users()
    iam = boto3.client("iam")
    for i in range(20):  # users without keys or MFA cost no call of their own
        iam.create_user(UserName=f"extra-{i:02d}")
    result, ctx = _counted()
    assert len(result.rows) == 23
    assert ctx.api_call_counts == {
        "iam:GenerateCredentialReport": 1,
        "iam:GetAccountAuthorizationDetails": 1,
        "iam:GetCredentialReport": 1,
        "iam:ListAccessKeys": 1,  # ci, the one user the report shows with a key
        "iam:ListVirtualMFADevices": 1,
        "sts:GetCallerIdentity": 1,
    }
    ci = next(r for r in result.rows if r["arn"] == CI)
    assert ci["access_keys"][0]["status"] == "Active"
    assert ci["access_keys"][0]["age_days"] == 0 and ci["access_keys"][0]["idle_days"] == 0


def test_denied_credential_report_makes_every_user_an_error(aws: None, hooked: Any) -> None:
    """What the report tells is unknown without it: ERROR per user, no PASS anywhere."""
    _users()
    factory = hooked(deny=("GetCredentialReport",))
    result = run_collector(IamUsersCollector, aws_session_factory=factory)
    for assertion_id in (
        "aws_iam_users.mfa_for_console",
        "aws_iam_users.mfa_for_privileged",
        "aws_iam_users.access_key_age",
        "aws_iam_users.unused_credentials",
    ):
        assert result.statuses(assertion_id) == {
            ALICE: Status.ERROR, BOB: Status.ERROR, CI: Status.ERROR,
        }, assertion_id  # fmt: skip
    message = result.finding("aws_iam_users.access_key_age", CI).message
    assert "AccessDenied on iam:GetCredentialReport" in message
    assert "access keys of ci are unknown" in message
    bob = next(r for r in result.rows if r["arn"] == BOB)
    assert bob["console_access"] is None and bob["mfa_enabled"] is None
    assert result.rows[0]["mfa_enabled"] is True  # alice's virtual device is listed


def _in_progress(times: int | None) -> Any:
    """A session factory whose GetCredentialReport answers ReportInProgress ``times`` times
    (always when ``None``)."""
    import boto3.session
    from botocore.exceptions import ClientError

    seen = {"n": 0}

    def factory(region: str | None) -> Any:
        session = boto3.session.Session(region_name=region)

        def hook(model: Any, **_: Any) -> None:
            if model.name == "GetCredentialReport":
                seen["n"] += 1
                if times is None or seen["n"] <= times:
                    error = {"Error": {"Code": "ReportInProgress", "Message": "in progress"}}
                    raise ClientError(error, model.name)

        session.events.register("before-call", hook)
        return session

    return factory, seen


def test_report_in_progress_is_waited_for(aws: None) -> None:
    _users()
    factory, seen = _in_progress(times=1)
    started = time.monotonic()
    result = run_collector(IamUsersCollector, aws_session_factory=factory)
    assert seen["n"] == 2 and 1.0 <= time.monotonic() - started < 10
    assert result.statuses("aws_iam_users.mfa_for_console") == {
        ALICE: Status.PASS,
        BOB: Status.FAIL,
    }


def test_report_wait_is_bounded(aws: None) -> None:
    _users()
    factory, seen = _in_progress(times=None)
    started = time.monotonic()
    result = run_collector(
        IamUsersCollector,
        {"credential_report_wait": 3},
        aws_session_factory=factory,
    )
    assert time.monotonic() - started < 8 and seen["n"] == 2  # tries at 0 s and 1 s
    finding = result.finding("aws_iam_users.mfa_for_console", ALICE)
    assert finding.status is Status.ERROR
    assert "the credential report was not ready after 1 s (credential_report_wait is 3 s)" in (
        finding.message
    )
    assert Status.PASS not in set(result.statuses("aws_iam_users.unused_credentials").values())


def test_user_created_after_the_report_is_read_per_user(aws: None, hooked: Any) -> None:
    """AWS reuses a report for four hours: a newer user is read with its own calls."""
    _users()
    iam = boto3.client("iam")
    iam.generate_credential_report()
    old = iam.get_credential_report()["Content"]
    iam.create_user(UserName="dave")
    iam.create_login_profile(UserName="dave", Password="Correct-Horse-9!")
    key = iam.create_access_key(UserName="dave")["AccessKey"]["AccessKeyId"]
    fake = {"GetCredentialReport": {"Content": old, "ReportFormat": "text/csv"}}
    ctx = make_context({}, aws_session_factory=hooked(fake=fake))
    result = run_collector(IamUsersCollector, ctx=ctx)
    dave = next(r for r in result.rows if r["user_name"] == "dave")
    assert dave["console_access"] is True and dave["mfa_enabled"] is False
    assert [k["access_key_id"] for k in dave["access_keys"]] == [key]
    assert result.finding("aws_iam_users.mfa_for_console", dave["arn"]).status is Status.FAIL
    counts = ctx.api_call_counts
    assert counts["iam:GetLoginProfile"] == 1 and counts["iam:ListMFADevices"] == 1
    assert counts["iam:ListAccessKeys"] == 2  # ci (key ids) and dave
    assert counts["iam:GetAccessKeyLastUsed"] == 1  # dave's key, unknown to the report


def test_without_key_ids_no_call_is_made_per_user(aws: None) -> None:
    """``access_key_ids`` off: the keys come from the report alone (the 4-call floor)."""
    _users()
    later = datetime.now(UTC) + timedelta(days=120)
    ctx = make_context({"access_key_ids": False}, now=later)
    result = run_collector(IamUsersCollector, ctx=ctx)
    assert "iam:ListAccessKeys" not in ctx.api_call_counts
    assert sum(ctx.api_call_counts.values()) == 5  # identity + the four batch reads
    ci = next(r for r in result.rows if r["arn"] == CI)
    assert [(k["access_key_id"], k["status"], k["age_days"]) for k in ci["access_keys"]] == [
        (None, "Active", 120)
    ]
    assert result.statuses("aws_iam_users.access_key_age") == {CI: Status.FAIL}
    message = result.finding("aws_iam_users.access_key_age", CI).message
    assert "ci has keys older than 90 days: key 1 (120 days)." == message
    assert "access key key 1 (120 days)" in (
        result.finding("aws_iam_users.unused_credentials", CI).message
    )
