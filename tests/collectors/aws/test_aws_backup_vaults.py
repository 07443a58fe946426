"""aws_backup_vaults: vaults with and without an encryption key."""

from __future__ import annotations

import boto3

from collectors import Status
from collectors.aws.aws_backup_vaults import BackupVaultsCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}
KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000001"


def test_vault_encryption(aws: None) -> None:
    good = boto3.client("backup", region_name="us-east-1").create_backup_vault(
        BackupVaultName="prod", EncryptionKeyArn=KEY
    )["BackupVaultArn"]
    bad = boto3.client("backup", region_name="eu-west-1").create_backup_vault(
        BackupVaultName="scratch"
    )["BackupVaultArn"]
    result = run_collector(BackupVaultsCollector, PARAMS)
    assert result.statuses("aws_backup_vaults.encrypted") == {
        good: Status.PASS,
        bad: Status.FAIL,
    }
    assert next(r for r in result.rows if r["arn"] == good)["encryption_key_arn"] == KEY
