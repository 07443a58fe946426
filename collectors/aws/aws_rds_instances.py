"""RDS DB instances: storage encryption and automated backup retention."""

from __future__ import annotations

from datetime import timedelta
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
from collectors.aws._controls import BACKUP, ENCRYPTION_AT_REST

STORAGE_ENCRYPTED = "aws_rds_instances.storage_encrypted"
BACKUP_RETENTION = "aws_rds_instances.backup_retention"


@register
class RdsInstancesCollector(Collector):
    """Every RDS and Aurora DB instance in the selected regions.

    Collected: ``rds:DescribeDBInstances`` (paginated) in every region, concurrently. Tags
    come with the listing. For Aurora, encryption and backup retention are the cluster's.

    Example row: ``arn:aws:rds:eu-west-1:123456789012:db:orders``, postgres 16.3,
    storage encrypted with a KMS key, backup retention 7 days, Multi-AZ, not public.
    """

    key = "aws_rds_instances"
    title = "AWS RDS DB instances"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (*aws.REGIONAL_PERMISSIONS, "rds:DescribeDBInstances")
    columns = (
        Column("arn", "string", "DB instance ARN."),
        Column("db_instance_identifier", "string", "DB instance identifier."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the instance."),
        Column("engine", "string", "Database engine (postgres, aurora-mysql, ...)."),
        Column("engine_version", "string", "Engine version."),
        Column("db_cluster_identifier", "string", "Aurora cluster the instance belongs to."),
        Column("storage_encrypted", "boolean", "Storage (and backups, snapshots) encrypted."),
        Column("kms_key_id", "string", "KMS key of the storage encryption."),
        Column("backup_retention_days", "integer", "Automated backup retention (0: off)."),
        Column("multi_az", "boolean", "Deployed across availability zones."),
        Column("publicly_accessible", "boolean", "Has a public endpoint."),
        Column("deletion_protection", "boolean", "Deletion protection is on."),
        Column("status", "string", "Instance status."),
        Column("created_at", "datetime", "Creation time (UTC)."),
        Column("tags", "json", "Instance tags as an object."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per DB instance, sorted by ARN."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[dict[str, Any]]:
            instances = aws.paginate(client, "describe_db_instances", "DBInstances")
            return [_row(db, account, region) for db in instances]

        assertions = (STORAGE_ENCRYPTED, BACKUP_RETENTION)
        rows = aws.collect_regional(ctx, "rds", lister, assertions=assertions)
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        STORAGE_ENCRYPTED,
        title="RDS DB instances encrypt their storage",
        severity=Severity.HIGH,
        remediation="RDS cannot encrypt an existing instance: take a snapshot, copy it with "
        "`aws rds copy-db-snapshot --kms-key-id KEY`, restore the encrypted copy and cut "
        "over. Create new instances with `--storage-encrypted`.",
        **ENCRYPTION_AT_REST,
    )
    def storage_encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when the instance's storage is encrypted."""
        name = row["db_instance_identifier"]
        if row["storage_encrypted"]:
            return Outcome(Status.PASS, f"DB instance {name} storage is encrypted.")
        return Outcome(Status.FAIL, f"DB instance {name} storage is not encrypted.")

    @assertion(
        BACKUP_RETENTION,
        title="RDS DB instances keep automated backups for at least the minimum period",
        severity=Severity.MEDIUM,
        remediation="Set the backup retention period: `aws rds modify-db-instance "
        "--db-instance-identifier ID --backup-retention-period 7 --apply-immediately` (for "
        "Aurora, modify the DB cluster).",
        params=(Param("min_days", "integer", default=7, help="Minimum backup retention in days."),),
        **BACKUP,
    )
    def backup_retention(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when automated backups are kept at least ``min_days`` days."""
        name = row["db_instance_identifier"]
        days, limit = row["backup_retention_days"] or 0, params["min_days"]
        if days >= limit and days > 0:
            return Outcome(Status.PASS, f"DB instance {name} keeps backups for {days} days.")
        if days == 0:
            return Outcome(Status.FAIL, f"DB instance {name} has automated backups turned off.")
        return Outcome(
            Status.FAIL, f"DB instance {name} keeps backups for {days} days (minimum {limit})."
        )


def _row(db: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    return {
        "arn": db["DBInstanceArn"],
        "db_instance_identifier": db["DBInstanceIdentifier"],
        "account_id": account,
        "region": region,
        "engine": db.get("Engine"),
        "engine_version": db.get("EngineVersion"),
        "db_cluster_identifier": db.get("DBClusterIdentifier"),
        "storage_encrypted": bool(db.get("StorageEncrypted")),
        "kms_key_id": db.get("KmsKeyId"),
        "backup_retention_days": db.get("BackupRetentionPeriod"),
        "multi_az": db.get("MultiAZ"),
        "publicly_accessible": db.get("PubliclyAccessible"),
        "deletion_protection": db.get("DeletionProtection"),
        "status": db.get("DBInstanceStatus"),
        "created_at": db.get("InstanceCreateTime"),
        "tags": aws.tags_dict(db.get("TagList")),
    }
