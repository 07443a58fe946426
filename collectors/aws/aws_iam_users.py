"""IAM users: the identity population of an AWS account, with credentials and MFA."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
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

    Collected at the API-call floor (issue 17), not with several calls per user:

    - ``iam:GenerateCredentialReport`` then ``iam:GetCredentialReport``: console password,
      its last use, MFA active, and for each of the (at most two) access keys its status,
      creation and last use. While AWS is still generating the report the collector waits
      (1, 2, 4, 8 s ... between tries) for at most ``credential_report_wait`` seconds and
      never past the run's time budget; a report that cannot be read (denied, still in
      progress, expired) makes every user's four assertions ERROR, naming the action.
    - ``iam:GetAccountAuthorizationDetails`` (``Filter=User,Group``, paginated): the users,
      their groups, attached and inline policies, and each group's attached policies.
    - ``iam:ListVirtualMFADevices`` (assigned, paginated): serial and enable date of every
      virtual MFA device with its user.
    - Per user only where AWS has no batch read: ``ListAccessKeys`` for users the report
      shows with an access key (key ids exist nowhere else; ``access_key_ids`` off skips
      it and keeps the keys without ids); ``ListMFADevices`` for users
      the report shows with MFA but no virtual device (hardware or FIDO keys); and for a
      user created after the report was generated (AWS reuses a report for up to four
      hours) ``GetLoginProfile``, ``ListMFADevices``, ``ListAccessKeys`` and
      ``GetAccessKeyLastUsed`` per key, as the report cannot tell.

    The report reflects the account when it was generated (AWS regenerates it at most every
    four hours); users are always current. The rows are an identity population
    (``collectors.identity``) that access reviews start from: ``account_id`` is the IAM
    user id, ``privileges`` lists groups and policies, and ``is_privileged`` is true when a
    policy named in ``privileged_policies`` is attached to the user or one of its groups.
    Inline policy documents are not evaluated. Ages are in whole days at collection time.

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
        Param(
            "access_key_ids",
            "boolean",
            default=True,
            help="Read each access key's id (iam:ListAccessKeys, one call per user with a key: "
            "AWS has no batch read of key ids). Off: keys come from the credential report "
            "alone, without ids (named 'key 1', 'key 2' in findings), and no call is made per "
            "user.",
        ),
        Param(
            "credential_report_wait",
            "integer",
            default=120,
            help="Longest wait in seconds for AWS to generate the credential report (the "
            "run's time budget still applies).",
        ),
    )
    permissions = (
        *aws.BASE_PERMISSIONS,
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountAuthorizationDetails",
        "iam:ListVirtualMFADevices",
        "iam:ListMFADevices",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:GetLoginProfile",
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
        account, partition = aws.caller(ctx)
        client = ctx.aws_client("iam", aws.home_region(ctx))
        report, report_error = _credential_report(ctx, client)
        users, groups = _authorization_details(client)
        virtual = _virtual_mfa(client)
        group_policies = {
            g["GroupName"]: sorted(p["PolicyName"] for p in g.get("AttachedManagedPolicies") or [])
            for g in groups
        }
        for name in sorted(
            {g for u in users for g in u.get("GroupList") or []} - set(group_policies)
        ):
            ctx.error(
                f"group {name} is missing from iam:GetAccountAuthorizationDetails: "
                "its managed policies were not read",
                action="iam:GetAccountAuthorizationDetails",
                resource=f"arn:{partition}:iam::{account}:group/{name}",
                assertions=(MFA_PRIVILEGED,),
            )
        found = aws.pmap(
            ctx,
            lambda user: _credentials(ctx, client, user, report, report_error, virtual),
            users,
            api="iam",
        )
        privileged = set(ctx.params.get("privileged_policies") or DEFAULT_PRIVILEGED_POLICIES)
        rows = [
            _row(ctx, user, creds, group_policies, privileged, account)
            for user, creds in zip(users, found, strict=True)
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
            listed = ", ".join(
                f"{_key_name(k, row['access_keys'])} ({k['age_days']} days)" for k in old
            )
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
        keys = row["access_keys"] or []
        for k in keys:
            if k["status"] == "Active" and (k["idle_days"] or 0) > limit:
                idle.append(f"access key {_key_name(k, keys)} ({k['idle_days']} days)")
        if idle:
            return Outcome(
                Status.FAIL,
                f"{row['user_name']} has credentials unused for more than {limit} days: "
                + ", ".join(idle)
                + ".",
            )
        return Outcome(Status.PASS, f"{row['user_name']} has no credentials idle > {limit} days.")


def _key_name(key: dict[str, Any], keys: list[dict[str, Any]]) -> str:
    """The key's id, or "key <n>" (its place among the user's keys) when read without ids."""
    return key["access_key_id"] or f"key {keys.index(key) + 1}"


#: Every assertion: what the credential report tells (console, MFA, keys) feeds all four.
_REPORTED = (MFA_CONSOLE, MFA_PRIVILEGED, KEY_AGE, UNUSED)
#: GetCredentialReport codes that mean "not ready yet": wait (and generate again if needed).
_NOT_READY = frozenset({"ReportInProgress", "ReportNotPresent", "ReportExpired"})
#: Report cells that carry no value.
_EMPTY = frozenset({"", "N/A", "no_information", "not_supported"})
#: The biggest page IAM allows (fewest calls).
_PAGE = {"PageSize": 1000}


def _credential_report(
    ctx: CollectionContext, client: Any
) -> tuple[dict[str, dict[str, str]] | None, tuple[str, str] | None]:
    """The credential report by user ARN, or ``(None, (message, action))`` when unreadable.

    ``GenerateCredentialReport`` returns at once (a report younger than four hours is
    reused); while AWS generates a new one ``GetCredentialReport`` answers
    ``ReportInProgress``, and the collector waits 1, 2, 4, 8, 8 ... s between tries for at
    most ``credential_report_wait`` seconds, never past the run's time budget.
    """
    errors = aws.botocore_errors()
    limit = ctx.params.get("credential_report_wait")
    limit = 120 if limit is None else max(0, int(limit))
    started = time.monotonic()
    delay = 1.0
    generate = True
    while True:
        if generate:
            try:
                client.generate_credential_report()
            except errors as exc:
                action = "iam:GenerateCredentialReport"
                return None, (f"{aws.error_code(exc)} on {action}", action)
            generate = False
        try:
            content = client.get_credential_report()["Content"]
            break
        except errors as exc:
            code = aws.error_code(exc)
            if code not in _NOT_READY:
                return None, (f"{code} on iam:GetCredentialReport", "iam:GetCredentialReport")
            waited = time.monotonic() - started
            if waited + delay > limit or delay >= ctx.remaining():
                return None, (
                    f"{code} on iam:GetCredentialReport: the credential report was not ready "
                    f"after {waited:.0f} s (credential_report_wait is {limit} s)",
                    "iam:GetCredentialReport",
                )
            generate = code != "ReportInProgress"
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    lines = csv.DictReader(io.StringIO(text))
    return {line["arn"]: line for line in lines if line.get("arn")}, None


def _authorization_details(client: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users and groups (with their policies) from ``GetAccountAuthorizationDetails``."""
    users: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    paginator = client.get_paginator("get_account_authorization_details")
    try:
        for page in paginator.paginate(Filter=["User", "Group"], PaginationConfig=_PAGE):
            users.extend(page.get("UserDetailList") or [])
            groups.extend(page.get("GroupDetailList") or [])
    except aws.botocore_errors() as exc:
        raise aws.to_collector_error(exc, "iam:GetAccountAuthorizationDetails") from None
    return users, groups


def _virtual_mfa(client: Any) -> dict[str, list[dict[str, Any]]] | None:
    """Assigned virtual MFA devices by user ARN (``None`` when they cannot be listed: the
    users the report shows with MFA then get ``ListMFADevices`` each)."""
    paginator = client.get_paginator("list_virtual_mfa_devices")
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        for page in paginator.paginate(AssignmentStatus="Assigned", PaginationConfig=_PAGE):
            for device in page.get("VirtualMFADevices") or []:
                user = (device.get("User") or {}).get("Arn")
                if user and device.get("EnableDate"):
                    found.setdefault(user, []).append(device)
    except aws.botocore_errors():
        return None
    return found


def _report_time(value: str | None) -> datetime | None:
    if value is None or value in _EMPTY:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _second(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def _credentials(
    ctx: CollectionContext,
    client: Any,
    user: dict[str, Any],
    report: dict[str, dict[str, str]] | None,
    report_error: tuple[str, str] | None,
    virtual: dict[str, list[dict[str, Any]]] | None,
) -> dict[str, Any]:
    """Console, MFA and access keys of one user: the report, per-user calls only where needed."""
    arn, name = user["Arn"], user["UserName"]
    devices = None if virtual is None else virtual.get(arn, [])
    if report is None:
        message, action = report_error or ("credential report unavailable", None)
        ctx.error(
            f"{message}: console password, MFA and access keys of {name} are unknown",
            action=action,
            resource=arn,
            assertions=_REPORTED,
        )
        return {
            "console": None, "password_last_used": None, "password_since": None,
            "mfa": devices or [], "mfa_enabled": True if devices else None, "keys": [],
        }  # fmt: skip
    line = report.get(arn)
    if line is None:
        return _per_user(ctx, client, user)
    used = _report_time(line.get("password_last_used"))
    mfa_active = line.get("mfa_active") == "true"
    if mfa_active and not devices:  # a hardware or FIDO device, or virtual ones unlisted
        devices = aws.call_list(
            ctx, client, "list_mfa_devices", "MFADevices", resource=arn,
            assertions=(MFA_CONSOLE, MFA_PRIVILEGED), UserName=name,
        )  # fmt: skip
    slots = {
        _second(_report_time(line.get(f"access_key_{slot}_last_rotated"))): slot
        for slot in (1, 2)
        if _report_time(line.get(f"access_key_{slot}_last_rotated"))
    }
    keys: list[dict[str, Any]] = []
    if slots and ctx.params.get("access_key_ids") is False:
        keys = _report_keys(ctx, client, arn, line, slots, None)
    elif slots:  # key ids exist only in ListAccessKeys
        listed = aws.call_list(
            ctx, client, "list_access_keys", "AccessKeyMetadata", resource=arn,
            assertions=(KEY_AGE, UNUSED), UserName=name,
        )  # fmt: skip
        keys = _report_keys(ctx, client, arn, line, slots, listed)
    return {
        "console": line.get("password_enabled") == "true",
        "password_last_used": used,
        "password_since": used or _report_time(line.get("password_last_changed")),
        "mfa": devices or [],
        "mfa_enabled": mfa_active or bool(devices),
        "keys": keys,
    }


def _report_keys(
    ctx: CollectionContext,
    client: Any,
    arn: str,
    line: dict[str, str],
    slots: dict[datetime | None, int],
    listed: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Listed keys with their last use from the report slot created at the same second.

    A key the report does not know (created after it) gets ``GetAccessKeyLastUsed``; when
    the keys could not be listed (an error is recorded) the report's slots stand in with no
    id.
    """
    if listed is None:
        return [
            _key(ctx, None, "Active" if line.get(f"access_key_{slot}_active") == "true"
                 else "Inactive", created, *_slot_use(line, slot))
            for created, slot in sorted(slots.items(), key=lambda item: item[1])
        ]  # fmt: skip
    keys = []
    for key in listed:
        slot = slots.get(_second(key.get("CreateDate")))
        if slot is not None:
            used_at, service = _slot_use(line, slot)
        else:
            last = aws.call(
                ctx, client, "get_access_key_last_used", resource=arn, assertions=(UNUSED,),
                AccessKeyId=key["AccessKeyId"],
            )  # fmt: skip
            found = (last or {}).get("AccessKeyLastUsed") or {}
            used_at, service = found.get("LastUsedDate"), found.get("ServiceName")
        keys.append(
            _key(ctx, key["AccessKeyId"], key.get("Status"), key.get("CreateDate"), used_at,
                 service)
        )  # fmt: skip
    return keys


def _slot_use(line: dict[str, str], slot: int) -> tuple[datetime | None, str | None]:
    service = line.get(f"access_key_{slot}_last_used_service")
    return (
        _report_time(line.get(f"access_key_{slot}_last_used_date")),
        None if service is None or service in _EMPTY else service,
    )


def _per_user(ctx: CollectionContext, client: Any, user: dict[str, Any]) -> dict[str, Any]:
    """A user created after the credential report: the calls the report would have saved."""
    arn, name = user["Arn"], user["UserName"]

    def listed(method: str, key: str, *assertions: str) -> list[Any] | None:
        return aws.call_list(
            ctx, client, method, key, resource=arn, assertions=assertions, UserName=name
        )

    login = aws.call(
        ctx, client, "get_login_profile", resource=arn, assertions=(MFA_CONSOLE, UNUSED),
        absent=("NoSuchEntity",), UserName=name,
    )  # fmt: skip
    mfa = listed("list_mfa_devices", "MFADevices", MFA_CONSOLE, MFA_PRIVILEGED)
    keys = []
    for key in listed("list_access_keys", "AccessKeyMetadata", KEY_AGE, UNUSED) or []:
        last = aws.call(
            ctx, client, "get_access_key_last_used", resource=arn, assertions=(UNUSED,),
            AccessKeyId=key["AccessKeyId"],
        )  # fmt: skip
        used = (last or {}).get("AccessKeyLastUsed") or {}
        keys.append(
            _key(ctx, key["AccessKeyId"], key.get("Status"), key.get("CreateDate"),
                 used.get("LastUsedDate"), used.get("ServiceName"))
        )  # fmt: skip
    return {
        "console": None if login is None else bool(login),
        "password_last_used": user.get("PasswordLastUsed"),
        "password_since": user.get("PasswordLastUsed")
        or (login or {}).get("LoginProfile", {}).get("CreateDate"),
        "mfa": mfa or [],
        "mfa_enabled": None if mfa is None else bool(mfa),
        "keys": keys,
    }


def _iso(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def _key(
    ctx: CollectionContext,
    key_id: str | None,
    status: str | None,
    created: datetime | None,
    used_at: datetime | None,
    service: str | None,
) -> dict[str, Any]:
    return {
        "access_key_id": key_id,
        "status": status,
        "created_at": _iso(created),
        "age_days": aws.days_since(ctx, created),
        "last_used_at": _iso(used_at),
        "last_used_service": service if used_at else None,
        "idle_days": aws.days_since(ctx, used_at or created),
    }


def _row(
    ctx: CollectionContext,
    user: dict[str, Any],
    creds: dict[str, Any],
    group_policies: dict[str, list[str]],
    privileged: set[str],
    account: str,
) -> dict[str, Any]:
    console = creds["console"]
    password_used = creds["password_last_used"]
    keys = creds["keys"]
    groups = sorted(user.get("GroupList") or [])
    attached = sorted(p["PolicyName"] for p in user.get("AttachedManagedPolicies") or [])
    via_groups = sorted(f"{g}/{p}" for g in groups for p in group_policies.get(g) or [])
    inline = sorted(p["PolicyName"] for p in user.get("UserPolicyList") or [])
    mfa = sorted(
        ({"serial_number": d["SerialNumber"], "enabled_at": _iso(d.get("EnableDate"))}
         for d in creds["mfa"]),
        key=lambda d: d["serial_number"],
    )  # fmt: skip
    activity = [t for t in [password_used, *(k.get("last_used_at") for k in keys)] if t]
    names = set(attached) | {p.split("/", 1)[1] for p in via_groups}
    # Privilege is unknown (None) unless a privileged policy was seen or every group's
    # managed policies were read: an unread group must not make an administrator ordinary.
    all_read = all(g in group_policies for g in groups)
    privileged_now = True if names & privileged else (False if all_read else None)
    active = bool(console) or any(k["status"] == "Active" for k in keys)
    return {
        "account_id": user["UserId"],
        "display_name": user["UserName"],
        "email": None,
        "privileges": sorted(
            [f"group:{g}" for g in groups]
            + [f"policy:{p}" for p in attached]
            + [f"group-policy:{p}" for p in via_groups]
            + [f"inline:{p}" for p in inline]
        ),
        "is_privileged": privileged_now,
        "mfa_enabled": creds["mfa_enabled"],
        "last_activity_at": max((format_datetime(t) for t in activity), default=None),
        "status": "active" if active else "inactive",
        "source": f"aws:{account}",
        "arn": user["Arn"],
        "user_name": user["UserName"],
        "path": user.get("Path"),
        "created_at": user.get("CreateDate"),
        "groups": groups,
        "attached_policies": attached,
        "group_policies": via_groups,
        "inline_policies": inline,
        "console_access": console,
        "password_last_used": password_used,
        "password_idle_days": aws.days_since(ctx, creds["password_since"]) if console else None,
        "mfa_devices": mfa,
        "access_keys": sorted(keys, key=lambda k: k["access_key_id"] or ""),
    }
