"""Account-level IAM settings: root user MFA and access keys, the password policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import AUTHENTICATION, ROOT_ACCESS

ROOT_MFA = "aws_iam_account.root_mfa"
ROOT_KEYS = "aws_iam_account.no_root_access_keys"
PASSWORD_POLICY = "aws_iam_account.password_policy"

#: (password policy field, threshold param) for the boolean character-class requirements.
_CLASSES = (
    ("RequireUppercaseCharacters", "require_uppercase"),
    ("RequireLowercaseCharacters", "require_lowercase"),
    ("RequireNumbers", "require_numbers"),
    ("RequireSymbols", "require_symbols"),
)


@register
class IamAccountCollector(Collector):
    """The account's root user protection and IAM password policy (one row).

    Collected: ``iam:GetAccountSummary`` (``AccountMFAEnabled``, ``AccountAccessKeysPresent``
    describe the root user) and ``iam:GetAccountPasswordPolicy`` (stored as returned; null
    when the account has no password policy, so IAM's weak defaults apply).

    Example row: ``arn:aws:iam::123456789012:root``, root MFA on, no root access keys,
    password policy ``{"MinimumPasswordLength": 14, "RequireSymbols": true, ...}``.
    """

    key = "aws_iam_account"
    title = "AWS account root user and password policy"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.BASE_PERMISSIONS,
        "iam:GetAccountSummary",
        "iam:GetAccountPasswordPolicy",
    )
    columns = (
        Column("arn", "string", "Root user ARN of the account."),
        Column("account_id", "string", "AWS account id."),
        Column("root_mfa_enabled", "boolean", "The root user has an MFA device."),
        Column("root_access_keys_present", "boolean", "The root user has access keys."),
        Column("password_policy", "json", "IAM password policy (null: none set)."),
        Column("summary", "json", "Entity counts from GetAccountSummary (quotas omitted)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row for the account."""
        account, partition = aws.caller(ctx)
        arn = f"arn:{partition}:iam::{account}:root"
        client = ctx.aws_client("iam", aws.home_region(ctx))
        summary = aws.call(
            ctx, client, "get_account_summary", resource=arn, assertions=(ROOT_MFA, ROOT_KEYS)
        )
        policy = aws.call(
            ctx, client, "get_account_password_policy", resource=arn,
            assertions=(PASSWORD_POLICY,), absent=("NoSuchEntity",),
        )  # fmt: skip
        if summary is None and policy is None:
            raise CollectorError(
                f"cannot read the IAM account settings of {account} (see errors: "
                "iam:GetAccountSummary, iam:GetAccountPasswordPolicy)",
                permanent=True,
                action="iam:GetAccountSummary",
            )
        counts = (summary or {}).get("SummaryMap") or {}
        return [
            {
                "arn": arn,
                "account_id": account,
                "root_mfa_enabled": bool(counts.get("AccountMFAEnabled")) if summary else None,
                "root_access_keys_present": (
                    bool(counts.get("AccountAccessKeysPresent")) if summary else None
                ),
                "password_policy": (policy or {}).get("PasswordPolicy"),
                "summary": {k: v for k, v in sorted(counts.items()) if "Quota" not in k},
            }
        ]

    @assertion(
        ROOT_MFA,
        title="The root user has MFA enabled",
        severity=Severity.CRITICAL,
        remediation="Sign in as the root user, open Security credentials and assign an MFA "
        "device (a hardware key or passkey is best). For AWS Organizations member accounts, "
        "consider centralised root access management instead of root credentials.",
        **ROOT_ACCESS,
    )
    def root_mfa(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when ``AccountMFAEnabled`` is 1; ERROR when the summary was not read."""
        if row["root_mfa_enabled"] is None:
            return Outcome(Status.ERROR, f"Root MFA of {row['account_id']} could not be read.")
        if row["root_mfa_enabled"]:
            return Outcome(Status.PASS, f"The root user of {row['account_id']} has MFA.")
        return Outcome(Status.FAIL, f"The root user of {row['account_id']} has no MFA device.")

    @assertion(
        ROOT_KEYS,
        title="The root user has no access keys",
        severity=Severity.CRITICAL,
        remediation="Sign in as the root user, open Security credentials and delete the root "
        "access keys; use IAM roles or users with least privilege instead.",
        **ROOT_ACCESS,
    )
    def no_root_access_keys(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when ``AccountAccessKeysPresent`` is 0; ERROR when the summary was not read."""
        if row["root_access_keys_present"] is None:
            return Outcome(
                Status.ERROR, f"Root access keys of {row['account_id']} could not be read."
            )
        if row["root_access_keys_present"]:
            return Outcome(Status.FAIL, f"The root user of {row['account_id']} has access keys.")
        return Outcome(Status.PASS, f"The root user of {row['account_id']} has no access keys.")

    @assertion(
        PASSWORD_POLICY,
        title="The IAM password policy meets the minimum requirements",
        severity=Severity.MEDIUM,
        remediation="Set the policy: `aws iam update-account-password-policy "
        "--minimum-password-length 14 --password-reuse-prevention 24 --require-symbols "
        "--require-numbers --require-uppercase-characters --require-lowercase-characters`.",
        params=(
            Param("min_length", "integer", default=14, help="Minimum password length."),
            Param(
                "reuse_prevention",
                "integer",
                default=24,
                help="Previous passwords that may not be reused (0: not required).",
            ),
            Param(
                "max_age_days",
                "integer",
                default=0,
                help="Passwords must expire within this many days (0: expiry not required).",
            ),
            Param("require_uppercase", "boolean", default=True, help="Require A-Z."),
            Param("require_lowercase", "boolean", default=True, help="Require a-z."),
            Param("require_numbers", "boolean", default=True, help="Require 0-9."),
            Param("require_symbols", "boolean", default=True, help="Require symbols."),
        ),
        **AUTHENTICATION,
    )
    def password_policy(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when every threshold is met; the message lists each shortfall."""
        policy = row["password_policy"]
        if not policy:
            return Outcome(Status.FAIL, "The account has no IAM password policy.")
        gaps = list(_policy_gaps(policy, params))
        if gaps:
            return Outcome(Status.FAIL, "The IAM password policy " + "; ".join(gaps) + ".")
        return Outcome(Status.PASS, "The IAM password policy meets every threshold.")


def _policy_gaps(policy: dict[str, Any], params: dict[str, Any]) -> Iterator[str]:
    length = policy.get("MinimumPasswordLength") or 0
    if length < params["min_length"]:
        yield f"allows {length}-character passwords (minimum {params['min_length']})"
    reuse = policy.get("PasswordReusePrevention") or 0
    if reuse < params["reuse_prevention"]:
        yield f"remembers {reuse} previous passwords (minimum {params['reuse_prevention']})"
    max_age = params["max_age_days"]
    expiry = policy.get("MaxPasswordAge") if policy.get("ExpirePasswords") else None
    if max_age and (expiry is None or expiry > max_age):
        lifetime = f"{expiry} days" if expiry else "forever"
        yield f"lets passwords live {lifetime} (maximum {max_age} days)"
    for field, name in _CLASSES:
        if params[name] and not policy.get(field):
            yield f"does not set {field}"
