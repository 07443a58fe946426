"""IAM users: the identity population of an AWS account, with credentials and MFA."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import AUTHENTICATION, CREDENTIAL_LIFECYCLE, ROOT_ACCESS
from collectors.identity import IDENTITY_COLUMNS
from collectors.schema import format_datetime

MFA_CONSOLE = "aws_iam_users.mfa_for_console"
MFA_PRIVILEGED = "aws_iam_users.mfa_for_privileged"
KEY_AGE = "aws_iam_users.access_key_age"
UNUSED = "aws_iam_users.unused_credentials"

DEFAULT_PRIVILEGED_POLICIES = ("AdministratorAccess", "IAMFullAccess")


@register
class IamUsersCollector(Collector):
    """Every IAM user with groups, policies, console access, MFA devices and access keys.

    Collected: ``iam:ListUsers`` (paginated), then per user, concurrently:
    ``ListGroupsForUser``, ``ListAttachedUserPolicies``, ``ListUserPolicies``,
    ``GetLoginProfile`` (console password), ``ListMFADevices``, ``ListAccessKeys`` and
    ``GetAccessKeyLastUsed`` per key; and ``ListAttachedGroupPolicies`` once per group. The
    rows are an identity population (``collectors.identity``) that access reviews start
    from: ``account_id`` is the IAM user id, ``privileges`` lists groups and policies, and
    ``is_privileged`` is true when a policy named in ``privileged_policies`` is attached to
    the user or one of its groups. Inline policy documents are not read. Ages are in whole
    days at collection time.

    Example row: user ``alice`` (``arn:aws:iam::123456789012:user/alice``) in group
    ``Admins`` with ``AdministratorAccess``, console password last used 2024-05-30, one
    virtual MFA device, one active access key 41 days old last used 2 days ago by s3.
    """

    key = "aws_iam_users"
    title = "AWS IAM users"
    version = 1
    identity_population = True
    params = (
        *aws.AWS_PARAMS,
        Param(
            "privileged_policies",
            "list",
            default=list(DEFAULT_PRIVILEGED_POLICIES),
            help="Names of managed policies that make a user privileged (administrators).",
        ),
    )
    permissions = (
        *aws.BASE_PERMISSIONS,
        "iam:ListUsers",
        "iam:ListGroupsForUser",
        "iam:ListAttachedUserPolicies",
        "iam:ListUserPolicies",
        "iam:GetLoginProfile",
        "iam:ListMFADevices",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:ListAttachedGroupPolicies",
    )
    columns = (
        *IDENTITY_COLUMNS,
        Column("arn", "string", "IAM user ARN."),
        Column("user_name", "string", "IAM user name."),
        Column("path", "string", "IAM path of the user."),
        Column("created_at", "datetime", "When the user was created (UTC)."),
        Column("groups", "json", "Sorted names of the user's groups."),
        Column("attached_policies", "json", "Sorted names of managed policies on the user."),
        Column("group_policies", "json", "Sorted 'group/policy' managed policies via groups."),
        Column("inline_policies", "json", "Sorted names of inline policies on the user."),
        Column("console_access", "boolean", "The user has a console password."),
        Column("password_last_used", "datetime", "Last console sign-in (null: never)."),
        Column("password_idle_days", "integer", "Days since sign-in (or password creation)."),
        Column("mfa_devices", "json", "MFA devices: serial number and enable date."),
        Column("access_keys", "json", "Access keys: id, status, age and last use."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per user, sorted by ARN."""
        account, _ = aws.caller(ctx)
        client = ctx.aws_client("iam", aws.home_region(ctx))
        users = aws.list_all(client, "list_users", "Users")
        details = aws.pmap(ctx, lambda user: _details(ctx, client, user), users)
        group_names = sorted({g for d in details for g in d["groups"] or []})
        policies = aws.pmap(ctx, lambda g: _group_policies(ctx, client, account, g), group_names)
        group_policies = dict(zip(group_names, policies, strict=True))
        privileged = set(ctx.params.get("privileged_policies") or DEFAULT_PRIVILEGED_POLICIES)
        rows = [
            _row(ctx, user, found, group_policies, privileged, account)
            for user, found in zip(users, details, strict=True)
        ]
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        MFA_CONSOLE,
        title="IAM users with a console password have MFA",
        severity=Severity.HIGH,
        remediation="Assign an MFA device to the user (IAM console > Users > Security "
        "credentials > Assign MFA device), or remove the console password if the user does "
        "not sign in. Prefer IAM Identity Center for human access.",
        **AUTHENTICATION,
    )
    def mfa_for_console(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Users with console access need at least one MFA device; others are skipped."""
        if not row["console_access"]:
            return None
        if row["mfa_devices"]:
            return Outcome(Status.PASS, f"{row['user_name']} signs in with MFA.")
        return Outcome(Status.FAIL, f"{row['user_name']} has a console password but no MFA.")

    @assertion(
        MFA_PRIVILEGED,
        title="Privileged IAM users have MFA",
        severity=Severity.CRITICAL,
        remediation="Assign an MFA device to every administrator, and require MFA in their "
        "policies (Condition aws:MultiFactorAuthPresent) so access keys alone cannot act as "
        "administrator.",
        **ROOT_ACCESS,
    )
    def mfa_for_privileged(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Users holding a privileged policy (directly or via a group) need an MFA device.

        A user whose policies could not all be read (``is_privileged`` null) and who has no
        MFA device is an ERROR: it may be an administrator without MFA.
        """
        if row["is_privileged"] is None and not row["mfa_devices"]:
            return Outcome(
                Status.ERROR,
                f"{row['user_name']} has no MFA device, and whether it is an administrator "
                "could not be read (its groups' or its own managed policies).",
            )
        if not row["is_privileged"]:
            return None
        if row["mfa_devices"]:
            return Outcome(Status.PASS, f"Administrator {row['user_name']} has MFA.")
        return Outcome(Status.FAIL, f"Administrator {row['user_name']} has no MFA device.")

    @assertion(
        KEY_AGE,
        title="Active IAM access keys are rotated within the maximum age",
        severity=Severity.MEDIUM,
        remediation="Rotate the key: create a second key, switch the workload to it, "
        "deactivate and then delete the old one (`aws iam update-access-key --status "
        "Inactive`, `aws iam delete-access-key`). Prefer roles over long-lived keys.",
        params=(Param("max_days", "integer", default=90, help="Maximum key age in days."),),
        **AUTHENTICATION,
    )
    def access_key_age(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Every active key must be at most ``max_days`` old; users without keys are skipped."""
        active = [k for k in row["access_keys"] or [] if k["status"] == "Active"]
        if not active:
            return None
        limit = params["max_days"]
        old = [k for k in active if (k["age_days"] or 0) > limit]
        if old:
            listed = ", ".join(f"{k['access_key_id']} ({k['age_days']} days)" for k in old)
            return Outcome(
                Status.FAIL, f"{row['user_name']} has keys older than {limit} days: {listed}."
            )
        return Outcome(Status.PASS, f"{row['user_name']}'s active keys are within {limit} days.")

    @assertion(
        UNUSED,
        title="IAM users have no password or access key unused for longer than allowed",
        severity=Severity.MEDIUM,
        remediation="Remove credentials nobody uses: delete the console password (`aws iam "
        "delete-login-profile`) or deactivate the access key, and delete users who left.",
        params=(
            Param("max_days", "integer", default=90, help="Longest allowed idle time in days."),
        ),
        **CREDENTIAL_LIFECYCLE,
    )
    def unused_credentials(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """Console passwords and active keys idle (since last use, else creation) > max_days."""
        limit, idle = params["max_days"], []
        if row["console_access"] and (row["password_idle_days"] or 0) > limit:
            idle.append(f"console password ({row['password_idle_days']} days)")
        for k in row["access_keys"] or []:
            if k["status"] == "Active" and (k["idle_days"] or 0) > limit:
                idle.append(f"access key {k['access_key_id']} ({k['idle_days']} days)")
        if idle:
            return Outcome(
                Status.FAIL,
                f"{row['user_name']} has credentials unused for more than {limit} days: "
                + ", ".join(idle)
                + ".",
            )
        return Outcome(Status.PASS, f"{row['user_name']} has no credentials idle > {limit} days.")


def _details(ctx: CollectionContext, client: Any, user: dict[str, Any]) -> dict[str, Any]:
    arn, name = user["Arn"], user["UserName"]

    def listed(method: str, key: str, *assertions: str) -> list[Any] | None:
        return aws.call_list(
            ctx, client, method, key, resource=arn, assertions=assertions, UserName=name
        )

    keys = listed("list_access_keys", "AccessKeyMetadata", KEY_AGE, UNUSED)
    last_used = {
        k["AccessKeyId"]: aws.call(
            ctx,
            client,
            "get_access_key_last_used",
            resource=arn,
            assertions=(UNUSED,),
            AccessKeyId=k["AccessKeyId"],
        )  # fmt: skip
        for k in keys or []
    }
    groups = listed("list_groups_for_user", "Groups", MFA_PRIVILEGED)
    return {
        "groups_read": groups is not None,
        "groups": [g["GroupName"] for g in groups or []],
        "attached": listed("list_attached_user_policies", "AttachedPolicies", MFA_PRIVILEGED),
        "inline": listed("list_user_policies", "PolicyNames", MFA_PRIVILEGED),
        "login": aws.call(
            ctx,
            client,
            "get_login_profile",
            resource=arn,
            assertions=(MFA_CONSOLE, UNUSED),
            absent=("NoSuchEntity",),
            UserName=name,
        ),
        "mfa": listed("list_mfa_devices", "MFADevices", MFA_CONSOLE, MFA_PRIVILEGED),
        "keys": keys,
        "last_used": last_used,
    }


def _group_policies(
    ctx: CollectionContext, client: Any, account: str, group: str
) -> list[str] | None:
    arn = f"arn:{aws.partition_of(ctx.identity or '')}:iam::{account}:group/{group}"
    found = aws.call_list(
        ctx, client, "list_attached_group_policies", "AttachedPolicies", resource=arn,
        assertions=(MFA_PRIVILEGED,), GroupName=group,
    )  # fmt: skip
    return None if found is None else sorted(p["PolicyName"] for p in found)


def _iso(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def _key(
    ctx: CollectionContext, key: dict[str, Any], last: dict[str, Any] | None
) -> dict[str, Any]:
    used = (last or {}).get("AccessKeyLastUsed") or {}
    used_at = used.get("LastUsedDate")
    return {
        "access_key_id": key["AccessKeyId"],
        "status": key.get("Status"),
        "created_at": _iso(key.get("CreateDate")),
        "age_days": aws.days_since(ctx, key.get("CreateDate")),
        "last_used_at": _iso(used_at),
        "last_used_service": used.get("ServiceName") if used_at else None,
        "idle_days": aws.days_since(ctx, used_at or key.get("CreateDate")),
    }


def _row(
    ctx: CollectionContext,
    user: dict[str, Any],
    found: dict[str, Any],
    group_policies: dict[str, list[str] | None],
    privileged: set[str],
    account: str,
) -> dict[str, Any]:
    login = found["login"]
    console = None if login is None else bool(login)
    password_used = user.get("PasswordLastUsed")
    password_since = password_used or (login or {}).get("LoginProfile", {}).get("CreateDate")
    keys = [_key(ctx, k, found["last_used"].get(k["AccessKeyId"])) for k in found["keys"] or []]
    attached = sorted(p["PolicyName"] for p in found["attached"] or [])
    via_groups = sorted(f"{g}/{p}" for g in found["groups"] for p in group_policies.get(g) or [])
    inline = sorted(found["inline"] or [])
    mfa = sorted(
        ({"serial_number": d["SerialNumber"], "enabled_at": _iso(d.get("EnableDate"))}
         for d in found["mfa"] or []),
        key=lambda d: d["serial_number"],
    )  # fmt: skip
    activity = [t for t in [password_used, *(k.get("last_used_at") for k in keys)] if t]
    names = set(attached) | {p.split("/", 1)[1] for p in via_groups}
    # Privilege is unknown (None) unless a privileged policy was seen or every source of
    # managed policies was read: an unread group must not make an administrator ordinary.
    all_read = (
        found["groups_read"]
        and found["attached"] is not None
        and all(group_policies.get(g) is not None for g in found["groups"])
    )
    privileged_now = True if names & privileged else (False if all_read else None)
    active = bool(console) or any(k["status"] == "Active" for k in keys)
    return {
        "account_id": user["UserId"],
        "display_name": user["UserName"],
        "email": None,
        "privileges": sorted(
            [f"group:{g}" for g in found["groups"]]
            + [f"policy:{p}" for p in attached]
            + [f"group-policy:{p}" for p in via_groups]
            + [f"inline:{p}" for p in inline]
        ),
        "is_privileged": privileged_now,
        "mfa_enabled": None if found["mfa"] is None else bool(mfa),
        "last_activity_at": max((format_datetime(t) for t in activity), default=None),
        "status": "active" if active else "inactive",
        "source": f"aws:{account}",
        "arn": user["Arn"],
        "user_name": user["UserName"],
        "path": user.get("Path"),
        "created_at": user.get("CreateDate"),
        "groups": sorted(found["groups"]),
        "attached_policies": attached,
        "group_policies": via_groups,
        "inline_policies": inline,
        "console_access": console,
        "password_last_used": password_used,
        "password_idle_days": aws.days_since(ctx, password_since) if console else None,
        "mfa_devices": mfa,
        "access_keys": sorted(keys, key=lambda k: k["access_key_id"]),
    }
