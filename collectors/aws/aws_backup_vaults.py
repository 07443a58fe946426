"""AWS Backup vaults: encryption key and lock state."""

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
from collectors.aws._controls import BACKUP_PROTECTION

ENCRYPTED = "aws_backup_vaults.encrypted"


@register
class BackupVaultsCollector(Collector):
    """Every AWS Backup vault in the selected regions.

    Collected: ``backup:ListBackupVaults`` (paginated) per region, concurrently; the listing
    carries the encryption key, lock state and recovery point count.

    Example row: ``arn:aws:backup:eu-west-1:123456789012:backup-vault:prod``, encrypted with
    ``arn:aws:kms:eu-west-1:123456789012:key/...``, locked, 412 recovery points.
    """

    key = "aws_backup_vaults"
    title = "AWS Backup vaults"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (*aws.REGIONAL_PERMISSIONS, "backup:ListBackupVaults")
    columns = (
        Column("arn", "string", "Backup vault ARN."),
        Column("name", "string", "Backup vault name."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the vault."),
        Column("encryption_key_arn", "string", "KMS key encrypting the recovery points."),
        Column("locked", "boolean", "Vault Lock is applied."),
        Column("recovery_points", "integer", "Number of recovery points."),
        Column("created_at", "datetime", "Creation time (UTC)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per vault, sorted by ARN."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[dict[str, Any]]:
            vaults = aws.paginate(client, "list_backup_vaults", "BackupVaultList")
            return [
                {
                    "arn": v["BackupVaultArn"],
                    "name": v.get("BackupVaultName"),
                    "account_id": account,
                    "region": region,
                    "encryption_key_arn": v.get("EncryptionKeyArn"),
                    "locked": v.get("Locked"),
                    "recovery_points": v.get("NumberOfRecoveryPoints"),
                    "created_at": v.get("CreationDate"),
                }
                for v in vaults
            ]

        rows = aws.collect_regional(ctx, "backup", lister, assertions=(ENCRYPTED,))
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        ENCRYPTED,
        title="AWS Backup vaults encrypt recovery points with a KMS key",
        severity=Severity.MEDIUM,
        remediation="A vault's key cannot change: create a vault with `aws backup "
        "create-backup-vault --encryption-key-arn KEY`, point the plan rules at it and let "
        "the old recovery points expire.",
        **BACKUP_PROTECTION,
    )
    def encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when the vault has an encryption key."""
        if row["encryption_key_arn"]:
            return Outcome(Status.PASS, f"Backup vault {row['name']} is encrypted with KMS.")
        return Outcome(Status.FAIL, f"Backup vault {row['name']} has no encryption key.")
