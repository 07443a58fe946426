"""The AWS integration's "test connection": who am I, and can each collector read?

:func:`probe` calls ``sts:GetCallerIdentity`` and then one cheap read per enabled
collector (:data:`PROBES`: the collector's first listing call, asking for one item where
the API allows it), and reports per IAM action whether it was allowed. An action that
answers ``AccessDenied`` (or any error) is named with the collectors that need it, so the
page can say exactly which permission is missing. It reads one region (the first of the
``regions`` param, or the session's). A probe cannot prove the collector's *other*
permissions; the template's policy (``_cloudformation``) grants all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collectors import CollectionContext, CollectorError
from collectors.aws._common import botocore_errors, error_code, home_region, is_denied
from collectors.base import Collector

__all__ = ["PROBES", "ProbeCheck", "ProbeReport", "probe"]

#: collector key -> (boto3 service, method, kwargs, IAM action) of its cheapest read.
PROBES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "aws_apigateway_stages": ("apigateway", "get_rest_apis", {"limit": 1}, "apigateway:GET"),
    "aws_backup_plans": ("backup", "list_backup_plans", {"MaxResults": 1},
                         "backup:ListBackupPlans"),
    "aws_backup_vaults": ("backup", "list_backup_vaults", {"MaxResults": 1},
                          "backup:ListBackupVaults"),
    "aws_cloudtrail": ("cloudtrail", "describe_trails", {}, "cloudtrail:DescribeTrails"),
    "aws_dynamodb_tables": ("dynamodb", "list_tables", {"Limit": 1}, "dynamodb:ListTables"),
    "aws_ebs": ("ec2", "get_ebs_encryption_by_default", {}, "ec2:GetEbsEncryptionByDefault"),
    "aws_ebs_volumes": ("ec2", "describe_volumes", {"MaxResults": 5}, "ec2:DescribeVolumes"),
    "aws_elbv2_listeners": ("elbv2", "describe_load_balancers", {"PageSize": 1},
                            "elasticloadbalancing:DescribeLoadBalancers"),
    "aws_guardduty": ("guardduty", "list_detectors", {"MaxResults": 1},
                      "guardduty:ListDetectors"),
    "aws_iam_account": ("iam", "get_account_summary", {}, "iam:GetAccountSummary"),
    "aws_inspector_findings": ("inspector2", "list_findings", {"maxResults": 1},
                               "inspector2:ListFindings"),
    "aws_iam_users": (
        "iam", "get_account_authorization_details", {"Filter": ["User"], "MaxItems": 1},
        "iam:GetAccountAuthorizationDetails",
    ),
    "aws_kms_keys": ("kms", "list_keys", {"Limit": 1}, "kms:ListKeys"),
    "aws_rds_instances": ("rds", "describe_db_instances", {"MaxRecords": 20},
                          "rds:DescribeDBInstances"),
    "aws_s3_buckets": ("s3", "list_buckets", {}, "s3:ListAllMyBuckets"),
    "aws_waf_web_acls": ("wafv2", "list_web_acls", {"Scope": "REGIONAL", "Limit": 1},
                         "wafv2:ListWebACLs"),
}  # fmt: skip


@dataclass
class ProbeCheck:
    """One IAM action tried: ``ok``, or the error code and message."""

    action: str
    collectors: list[str]
    ok: bool
    error: str = ""


@dataclass
class ProbeReport:
    """The outcome of :func:`probe`: the identity, and one :class:`ProbeCheck` per action."""

    identity: str = ""
    account: str = ""
    error: str = ""
    checks: list[ProbeCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and all(c.ok for c in self.checks)

    @property
    def missing(self) -> list[str]:
        """The actions that were denied or failed, sorted."""
        return sorted(c.action for c in self.checks if not c.ok)


def probe(ctx: CollectionContext, collectors: Iterable[type[Collector]]) -> ProbeReport:
    """Try the identity and each collector's cheapest read with ``ctx``'s credentials.

    Never raises for AWS errors: a failing identity call (bad credentials, a role that
    cannot be assumed) is the report's ``error``; a failing read is a check that is not ok.
    """
    report = ProbeReport()
    try:
        region = home_region(ctx)
        identity = ctx.aws_client("sts", region).get_caller_identity()
    except CollectorError as exc:  # the role could not be assumed
        report.error = exc.message
        return report
    except botocore_errors() as exc:
        report.error = f"{error_code(exc)} on sts:GetCallerIdentity"
        return report
    report.identity, report.account = identity["Arn"], identity["Account"]
    by_action: dict[str, list[str]] = {}
    calls: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for cls in collectors:
        if cls.key not in PROBES:
            continue
        service, method, kwargs, action = PROBES[cls.key]
        by_action.setdefault(action, []).append(cls.key)
        calls[action] = (service, method, kwargs)
    for action in sorted(calls):
        service, method, kwargs = calls[action]
        client = ctx.aws_client(service, region)
        try:
            getattr(client, method)(**kwargs)
        except botocore_errors() as exc:
            what = "missing permission" if is_denied(exc) else "failed"
            report.checks.append(
                ProbeCheck(action, sorted(by_action[action]), False,
                           f"{error_code(exc)}: {what} {action}"),
            )  # fmt: skip
            continue
        report.checks.append(ProbeCheck(action, sorted(by_action[action]), True))
    return report
