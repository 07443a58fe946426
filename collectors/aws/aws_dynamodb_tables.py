"""DynamoDB tables: point-in-time recovery, encryption and deletion protection."""

from __future__ import annotations

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

PITR = "aws_dynamodb_tables.pitr_enabled"


@register
class DynamoDbTablesCollector(Collector):
    """Every DynamoDB table in the selected regions, with its continuous backups.

    Collected: ``dynamodb:ListTables`` (paginated) per region, then per table
    ``dynamodb:DescribeTable`` and ``dynamodb:DescribeContinuousBackups``. DynamoDB always
    encrypts at rest; ``sse_type`` says with which key (null: an AWS-owned key).

    Example row: ``arn:aws:dynamodb:eu-west-1:123456789012:table/sessions``, ACTIVE,
    point-in-time recovery ENABLED, SSE KMS, deletion protection on.
    """

    key = "aws_dynamodb_tables"
    title = "AWS DynamoDB tables"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "dynamodb:ListTables",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeContinuousBackups",
    )
    columns = (
        Column("arn", "string", "Table ARN."),
        Column("table_name", "string", "Table name."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the table."),
        Column("status", "string", "Table status."),
        Column("pitr_status", "string", "Point-in-time recovery: ENABLED or DISABLED."),
        Column("pitr_earliest_restore_at", "datetime", "Earliest restorable time (UTC)."),
        Column("sse_type", "string", "KMS when encrypted with a KMS key; null: AWS-owned key."),
        Column("kms_key_arn", "string", "KMS key of the table's encryption."),
        Column("deletion_protection", "boolean", "Deletion protection is on."),
        Column("item_count", "integer", "Approximate item count."),
        Column("created_at", "datetime", "Creation time (UTC)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per table, sorted by ARN."""
        account, partition = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[tuple[Any, str, str]]:
            names = aws.paginate(client, "list_tables", "TableNames")
            return [(client, region, name) for name in names]

        tables = aws.collect_regional(ctx, "dynamodb", lister, assertions=(PITR,))

        def describe(item: tuple[Any, str, str]) -> dict[str, Any]:
            client, region, name = item
            arn = f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"
            table = aws.call(
                ctx, client, "describe_table", resource=arn, assertions=(PITR,), TableName=name
            )
            backups = aws.call(
                ctx, client, "describe_continuous_backups", resource=arn, assertions=(PITR,),
                TableName=name,
            )  # fmt: skip
            return _row(arn, name, account, region, table, backups)

        return sorted(aws.pmap(ctx, describe, tables, api="dynamodb"), key=lambda row: row["arn"])

    @assertion(
        PITR,
        title="DynamoDB tables have point-in-time recovery enabled",
        severity=Severity.MEDIUM,
        remediation="Enable continuous backups: `aws dynamodb update-continuous-backups "
        "--table-name NAME --point-in-time-recovery-specification "
        "PointInTimeRecoveryEnabled=true`.",
        **BACKUP,
    )
    def pitr_enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when point-in-time recovery is ENABLED."""
        if row["pitr_status"] == "ENABLED":
            return Outcome(Status.PASS, f"Table {row['table_name']} has point-in-time recovery.")
        return Outcome(Status.FAIL, f"Table {row['table_name']} has no point-in-time recovery.")


def _row(
    arn: str,
    name: str,
    account: str,
    region: str,
    table: dict[str, Any] | None,
    backups: dict[str, Any] | None,
) -> dict[str, Any]:
    described = (table or {}).get("Table") or {}
    pitr = ((backups or {}).get("ContinuousBackupsDescription") or {}).get(
        "PointInTimeRecoveryDescription"
    ) or {}
    sse = described.get("SSEDescription") or {}
    return {
        "arn": described.get("TableArn") or arn,
        "table_name": name,
        "account_id": account,
        "region": region,
        "status": described.get("TableStatus"),
        "pitr_status": pitr.get("PointInTimeRecoveryStatus"),
        "pitr_earliest_restore_at": pitr.get("EarliestRestorableDateTime"),
        "sse_type": sse.get("SSEType"),
        "kms_key_arn": sse.get("KMSMasterKeyArn"),
        "deletion_protection": described.get("DeletionProtectionEnabled"),
        "item_count": described.get("ItemCount"),
        "created_at": described.get("CreationDateTime"),
    }
