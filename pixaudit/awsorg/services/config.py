"""Create, change and test AWS integrations (validated, secrets encrypted, audit-logged)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from collectors import CollectionContext, ParamError, registry
from collectors.aws._common import AWS_PARAMS
from collectors.aws._org import AccountFilter, member_role_arn
from collectors.aws._probe import probe
from collectors.base import Collector, validate_params
from pixaudit.auditlog.services import audit_log_record
from pixaudit.awsorg.models import AwsIntegration, IntegrationMode
from pixaudit.evidence.services.connections import (
    allow_http_loopback,
    decrypt_secrets,
    encrypt_secrets,
)

__all__ = [
    "SECRET_NAMES",
    "IntegrationError",
    "aws_collectors",
    "aws_integration_context",
    "aws_integration_create",
    "aws_integration_rules",
    "aws_integration_test",
    "aws_integration_update",
]

#: The integration's secret params (the rest of ``AWS_PARAMS`` is stored in ``params``).
SECRET_NAMES = tuple(p.name for p in AWS_PARAMS if p.secret)
_PUBLIC_PARAMS = tuple(p for p in AWS_PARAMS if not p.secret)
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_OU_ID = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
_ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,200}$")
_RULE_LISTS = ("include_ids", "exclude_ids", "include_ous", "exclude_ous")
_RULE_TAGS = ("include_tags", "exclude_tags")
_KIND = "awsintegration"


class IntegrationError(Exception):
    """Invalid input: ``errors`` maps a field name to a message a user can act on."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())))


def aws_collectors() -> list[type[Collector]]:
    """Every registered AWS collector, sorted by key."""
    registry.discover()
    return [cls for cls in registry.all_collectors() if cls.source == "aws"]


def _validate(
    *, name: str, mode: str, collectors: Iterable[str], params: Mapping[str, Any],
    member_role_name: str, account_rules: Mapping[str, Any], schedule_minutes: int,
    max_parallel_accounts: int = 0,
) -> tuple[list[str], dict[str, Any], dict[str, Any]]:  # fmt: skip
    errors: dict[str, str] = {}
    if not isinstance(max_parallel_accounts, int) or not 0 <= max_parallel_accounts <= 10_000:
        errors["max_parallel_accounts"] = (
            "A whole number from 0 (no limit but the number of workers) to 10000."
        )
    if not name.strip():
        errors["name"] = "Give the integration a name."
    elif len(name) > 100 or any(ord(c) < 32 for c in name):
        errors["name"] = "At most 100 characters, on one line."
    if mode not in IntegrationMode.values:
        errors["mode"] = f"Choose one of: {', '.join(IntegrationMode.values)}."
    known = {cls.key for cls in aws_collectors()}
    chosen = sorted(set(collectors))
    unknown = [k for k in chosen if k not in known]
    if unknown:
        errors["collectors"] = f"Unknown AWS collectors: {', '.join(unknown)}."
    elif not chosen:
        errors["collectors"] = "Switch on at least one collector."
    try:
        public = validate_params(_PUBLIC_PARAMS, {k: v for k, v in params.items() if v})
    except ParamError as exc:
        errors.update(exc.errors)
        public = {}
    public = {k: v for k, v in public.items() if v not in (None, "", [])}
    role = public.get("role_arn")
    if role and not re.match(r"^arn:aws[\w-]*:iam::\d{12}:role/.+$", role):
        errors["role_arn"] = "Not an IAM role ARN (arn:aws:iam::123456789012:role/name)."
    if mode == IntegrationMode.ORGANIZATION and not _ROLE_NAME.match(member_role_name or ""):
        errors["member_role_name"] = "Name the role to assume in each member account."
    if not 5 <= int(schedule_minutes or 0) <= 60 * 24 * 31:
        errors["schedule_minutes"] = "Between 5 minutes and 31 days."
    rules: dict[str, Any] = {}
    for key in _RULE_LISTS:
        values = sorted({str(v).strip() for v in account_rules.get(key) or [] if str(v).strip()})
        pattern = _ACCOUNT_ID if key.endswith("_ids") else _OU_ID
        bad = [v for v in values if not pattern.match(v)]
        if bad:
            what = "12-digit account ids" if key.endswith("_ids") else "OU ids (ou-... or r-...)"
            errors[key] = f"Not {what}: {', '.join(bad)}."
        if values:
            rules[key] = values
    for key in _RULE_TAGS:
        tags = {str(k).strip(): str(v).strip() for k, v in (account_rules.get(key) or {}).items()}
        if any(not k for k in tags):
            errors[key] = "A tag rule needs a key (key=value, or key=* for any value)."
        if tags:
            rules[key] = dict(sorted(tags.items()))
    if mode == IntegrationMode.ACCOUNT and rules:
        errors["account_rules"] = "Account rules apply to organisation mode only."
    if errors:
        raise IntegrationError(errors)
    return chosen, public, rules


def aws_integration_create(
    *, name: str, mode: str, collectors: Iterable[str], params: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None, member_role_name: str = "pixaudit-readonly",
    member_external_id: str = "", account_rules: Mapping[str, Any] | None = None,
    schedule_minutes: int = 1440, max_parallel_accounts: int = 0, user: Any = None,
) -> AwsIntegration:  # fmt: skip
    """Create an integration. Raises :class:`IntegrationError` naming every bad field.

    ``max_parallel_accounts``: how many accounts of one run collect at once over all
    workers (0: as many as there are workers to take them).
    """
    chosen, public, rules = _validate(
        name=name, mode=mode, collectors=collectors, params=params or {},
        member_role_name=member_role_name, account_rules=account_rules or {},
        schedule_minutes=schedule_minutes, max_parallel_accounts=max_parallel_accounts,
    )  # fmt: skip
    secret_values = {k: v for k, v in (secrets or {}).items() if k in SECRET_NAMES and v}
    if AwsIntegration.objects.filter(name=name.strip()).exists():
        raise IntegrationError({"name": "An integration with this name exists."})
    with transaction.atomic():
        integration = AwsIntegration.objects.create(
            name=name.strip(), mode=mode, collectors=chosen, params=public,
            member_role_name=member_role_name.strip(), member_external_id=member_external_id,
            account_rules=rules, schedule_minutes=schedule_minutes, next_run_at=timezone.now(),
            max_parallel_accounts=max_parallel_accounts,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )  # fmt: skip
        integration.secrets = encrypt_secrets(_KIND, integration.pk, secret_values)
        integration.save(update_fields=["secrets"])
        audit_log_record(
            actor=user, action="aws_integration.created", obj=integration, mode=mode,
            collectors=chosen, params=sorted(public), secrets=sorted(secret_values),
        )  # fmt: skip
    return integration


def aws_integration_update(
    *, integration: AwsIntegration, user: Any = None, **changes: Any
) -> AwsIntegration:
    """Change an integration; a blank secret keeps the stored one, ``clear_secrets`` removes
    the named ones. The audit event names the changed fields (never a value of a secret)."""
    secrets = changes.pop("secrets", None) or {}
    clear = set(changes.pop("clear_secrets", ()) or ())
    fields = {
        "name": integration.name, "mode": integration.mode,
        "collectors": integration.collectors, "params": integration.params,
        "member_role_name": integration.member_role_name,
        "member_external_id": integration.member_external_id,
        "account_rules": integration.account_rules,
        "schedule_minutes": integration.schedule_minutes, "enabled": integration.enabled,
        "max_parallel_accounts": integration.max_parallel_accounts,
    }  # fmt: skip
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    new = {**fields, **changes}
    chosen, public, rules = _validate(
        name=new["name"], mode=new["mode"], collectors=new["collectors"], params=new["params"],
        member_role_name=new["member_role_name"], account_rules=new["account_rules"],
        schedule_minutes=new["schedule_minutes"],
        max_parallel_accounts=new["max_parallel_accounts"],
    )  # fmt: skip
    new.update(collectors=chosen, params=public, account_rules=rules, name=new["name"].strip())
    if AwsIntegration.objects.filter(name=new["name"]).exclude(pk=integration.pk).exists():
        raise IntegrationError({"name": "An integration with this name exists."})
    changed = sorted(k for k in fields if new[k] != fields[k])
    stored = decrypt_secrets(_KIND, integration.pk, integration.secrets)
    entered = {k: v for k, v in secrets.items() if k in SECRET_NAMES and v}
    values = {**{k: v for k, v in stored.items() if k not in clear}, **entered}
    with transaction.atomic():
        for key in fields:
            setattr(integration, key, new[key])
        integration.secrets = encrypt_secrets(_KIND, integration.pk, values)
        integration.save()
        audit_log_record(
            actor=user, action="aws_integration.updated", obj=integration, fields=changed,
            secrets_entered=sorted(entered), secrets_removed=sorted(clear & set(stored)),
        )  # fmt: skip
    return integration


def aws_integration_rules(integration: AwsIntegration) -> AccountFilter:
    """The integration's account rules as the SDK's :class:`AccountFilter`."""
    rules = integration.account_rules or {}
    return AccountFilter(
        **{k: frozenset(rules.get(k) or ()) for k in _RULE_LISTS},
        **{k: dict(rules.get(k) or {}) for k in _RULE_TAGS},
    )


def integration_secret_values(integration: AwsIntegration) -> dict[str, str]:
    """The decrypted secrets (for building a context or a child connection; never shown)."""
    return decrypt_secrets(_KIND, integration.pk, integration.secrets)


def aws_integration_context(
    integration: AwsIntegration, *, account_id: str | None = None, partition: str = "aws"
) -> CollectionContext:
    """A collector context with the integration's credentials; with ``account_id`` (organisation
    mode) it assumes the member role in that account instead of the integration's role."""
    secrets = integration_secret_values(integration)
    params = {**integration.params, **secrets}
    if account_id is not None:
        params["role_arn"] = member_role_arn(account_id, integration.member_role_name, partition)
        if integration.member_external_id:
            params["external_id"] = integration.member_external_id
        else:
            params.pop("external_id", None)
    return CollectionContext(
        params, secrets=list(secrets.values()), allow_http_loopback=allow_http_loopback()
    )


def aws_integration_test(*, integration: AwsIntegration, user: Any = None) -> dict[str, Any]:
    """Test the connection: identity and one cheap read per enabled collector.

    Organisation mode tests the management credentials' listing (``ListAccounts``) and
    then the member role in the first active account the rules include. The report is
    stored on the integration (``last_probe``) and audit-logged.
    """
    from collectors.aws._org import list_accounts, select_accounts

    enabled = [cls for cls in aws_collectors() if cls.key in set(integration.collectors)]
    result: dict[str, Any] = {"tested_at": timezone.now().isoformat(), "mode": integration.mode}
    ctx = aws_integration_context(integration)
    if integration.mode == IntegrationMode.ORGANIZATION:
        report = probe(ctx, [])
        result["management"] = {"identity": report.identity, "error": report.error}
        member = None
        if not report.error:
            try:
                client = ctx.aws_client("organizations", "us-east-1")
                chosen = select_accounts(
                    list_accounts(client, with_ous=_needs_ous(integration),
                                  with_tags=_needs_tags(integration)),
                    aws_integration_rules(integration),
                )  # fmt: skip
                result["management"]["listing"] = "ok"
                result["accounts"] = len(chosen.included)
                member = chosen.included[0].id if chosen.included else None
            except Exception as exc:  # a CollectorError names the action
                result["management"]["listing"] = getattr(exc, "message", str(exc))
        if member is not None:
            report = probe(aws_integration_context(integration, account_id=member), enabled)
            result["member_account"] = member
        else:
            report = None
    else:
        report = probe(ctx, enabled)
    if report is not None:
        result.update(
            identity=report.identity, account=report.account, error=report.error,
            checks=[{"action": c.action, "collectors": c.collectors, "ok": c.ok,
                     "error": c.error} for c in report.checks],
            missing=report.missing,
        )  # fmt: skip
    result["ok"] = bool(
        report is not None and report.ok
        and result.get("management", {}).get("listing", "ok") == "ok"
    )  # fmt: skip
    with transaction.atomic():
        AwsIntegration.objects.filter(pk=integration.pk).update(last_probe=result)
        integration.last_probe = result
        audit_log_record(
            actor=user, action="aws_integration.tested", obj=integration, ok=result["ok"],
            missing=result.get("missing", []),
        )  # fmt: skip
    return result


def _needs_ous(integration: AwsIntegration) -> bool:
    return aws_integration_rules(integration).needs_ous


def _needs_tags(integration: AwsIntegration) -> bool:
    return aws_integration_rules(integration).needs_tags
