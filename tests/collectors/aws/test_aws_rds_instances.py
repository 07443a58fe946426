"""aws_rds_instances: storage encryption and backup retention (threshold is a parameter)."""

from __future__ import annotations

import boto3

from collectors import Status
from collectors.aws.aws_rds_instances import RdsInstancesCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}
GOOD = "arn:aws:rds:us-east-1:123456789012:db:orders"
BAD = "arn:aws:rds:eu-west-1:123456789012:db:legacy"


def _db(region: str, name: str, encrypted: bool, retention: int) -> None:
    boto3.client("rds", region_name=region).create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
        StorageEncrypted=encrypted, BackupRetentionPeriod=retention,
    )  # fmt: skip


def test_encryption_and_backup_retention(aws: None) -> None:
    _db("us-east-1", "orders", True, 7)
    _db("eu-west-1", "legacy", False, 1)
    result = run_collector(RdsInstancesCollector, PARAMS)
    assert result.statuses("aws_rds_instances.storage_encrypted") == {
        GOOD: Status.PASS,
        BAD: Status.FAIL,
    }
    assert result.statuses("aws_rds_instances.backup_retention") == {
        GOOD: Status.PASS,
        BAD: Status.FAIL,
    }
    assert "1 days (minimum 7)" in result.finding("aws_rds_instances.backup_retention", BAD).message


def test_min_days_threshold(aws: None) -> None:
    _db("us-east-1", "orders", True, 7)
    result = run_collector(
        RdsInstancesCollector,
        PARAMS,
        thresholds={"aws_rds_instances.backup_retention": {"min_days": 14}},
    )
    assert result.finding("aws_rds_instances.backup_retention", GOOD).status is Status.FAIL
