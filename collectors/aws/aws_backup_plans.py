"""AWS Backup plans: their rules and resource selections."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import BACKUP

CONFIGURED = "aws_backup_plans.configured"


@register
class BackupPlansCollector(Collector):
    """Every AWS Backup plan in the selected regions, with its rules and selections.

    Collected: ``backup:ListBackupPlans`` (paginated) per region, then per plan
    ``backup:GetBackupPlan`` (rules: schedule, target vault, lifecycle) and
    ``backup:ListBackupSelections`` (paginated; which resources the plan backs up).

    Example row: ``arn:aws:backup:eu-west-1:123456789012:backup-plan:8c1f...``, plan
    ``daily-35d`` with rule ``daily`` (``cron(0 5 * * ? *)``, delete after 35 days, vault
    ``Default``) and selection ``tagged-backup-true``.
    """

    key = "aws_backup_plans"
    title = "AWS Backup plans"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "backup:ListBackupPlans",
        "backup:GetBackupPlan",
        "backup:ListBackupSelections",
    )
    columns = (
        Column("arn", "string", "Backup plan ARN."),
        Column("plan_id", "string", "Backup plan id."),
        Column("name", "string", "Backup plan name."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the plan."),
        Column("rules", "json", "Rules: name, schedule, target vault, lifecycle."),
        Column("selections", "json", "Sorted names of the plan's resource selections."),
        Column("last_execution_at", "datetime", "When the plan last ran (UTC)."),
        Column("created_at", "datetime", "Creation time (UTC)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per plan, sorted by ARN."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[tuple[Any, str, dict[str, Any]]]:
            plans = aws.paginate(client, "list_backup_plans", "BackupPlansList")
            return [(client, region, plan) for plan in plans]

        plans = aws.collect_regional(ctx, "backup", lister, assertions=(CONFIGURED,))

        def describe(item: tuple[Any, str, dict[str, Any]]) -> dict[str, Any]:
            client, region, plan = item
            arn, plan_id = plan["BackupPlanArn"], plan["BackupPlanId"]
            detail = aws.call(
                ctx, client, "get_backup_plan", resource=arn, assertions=(CONFIGURED,),
                BackupPlanId=plan_id,
            )  # fmt: skip
            selections = aws.call_list(
                ctx, client, "list_backup_selections", "BackupSelectionsList", resource=arn,
                assertions=(CONFIGURED,), BackupPlanId=plan_id,
            )  # fmt: skip
            rules = ((detail or {}).get("BackupPlan") or {}).get("Rules")
            return {
                "arn": arn,
                "plan_id": plan_id,
                "name": plan.get("BackupPlanName"),
                "account_id": account,
                "region": region,
                "rules": None if rules is None else sorted(
                    (_rule(r) for r in rules), key=lambda r: r["name"] or ""
                ),
                "selections": None if selections is None else sorted(
                    s.get("SelectionName") or s.get("SelectionId") for s in selections
                ),
                "last_execution_at": plan.get("LastExecutionDate"),
                "created_at": plan.get("CreationDate"),
            }  # fmt: skip

        return sorted(aws.pmap(ctx, describe, plans, api="backup"), key=lambda row: row["arn"])

    @assertion(
        CONFIGURED,
        title="At least one AWS Backup plan has rules and selects resources",
        severity=Severity.HIGH,
        remediation="Create a plan with a scheduled rule and assign resources to it (by tag "
        "or ARN): `aws backup create-backup-plan` then `aws backup create-backup-selection`, "
        "or AWS Backup console > Backup plans > Create.",
        per="table",
        **BACKUP,
    )
    def configured(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """One outcome for the account (``*``); plans without rules or selections WARN.

        PASS when a plan has both rules and selections. When none is known to, but a
        plan's rules or selections could not be read, the account's answer is unknown:
        ERROR, naming those plans (each of them also gets its own ERROR). FAIL only when
        every plan was read and none qualifies.
        """
        complete = [r for r in rows if r["rules"] and r["selections"]]
        unread = [r for r in rows if r["rules"] is None or r["selections"] is None]
        for row in rows:
            if row not in complete and row not in unread:
                missing = "rules" if not row["rules"] else "resource selections"
                yield Outcome(
                    Status.WARN, f"Backup plan {row['name']} has no {missing}.", row["arn"]
                )
        if complete:
            names = ", ".join(f"{r['name']} ({r['region']})" for r in complete)
            yield Outcome(Status.PASS, f"Backup plans with rules and selections: {names}.", "*")
        elif unread:
            names = ", ".join(
                f"{r['name']} ({r['region']}: "
                f"{'rules' if r['rules'] is None else 'selections'} not read)"
                for r in unread
            )
            yield Outcome(
                Status.ERROR,
                f"Whether any AWS Backup plan has rules and resource selections is unknown: "
                f"{names}.",
                "*",
            )
        else:
            yield Outcome(
                Status.FAIL, "No AWS Backup plan has both rules and resource selections.", "*"
            )


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    lifecycle = rule.get("Lifecycle") or {}
    return {
        "name": rule.get("RuleName"),
        "schedule": rule.get("ScheduleExpression"),
        "target_vault": rule.get("TargetBackupVaultName"),
        "delete_after_days": lifecycle.get("DeleteAfterDays"),
        "cold_storage_after_days": lifecycle.get("MoveToColdStorageAfterDays"),
        "continuous_backup": rule.get("EnableContinuousBackup"),
    }
