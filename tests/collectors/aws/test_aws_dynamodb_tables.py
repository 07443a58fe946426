"""aws_dynamodb_tables: point-in-time recovery on and off."""

from __future__ import annotations

from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_dynamodb_tables import DynamoDbTablesCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}


def _table(region: str, name: str, pitr: bool) -> str:
    ddb = boto3.client("dynamodb", region_name=region)
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return arn


def test_pitr(aws: None) -> None:
    good = _table("us-east-1", "sessions", True)
    bad = _table("eu-west-1", "cache", False)
    result = run_collector(DynamoDbTablesCollector, PARAMS)
    assert result.statuses("aws_dynamodb_tables.pitr_enabled") == {
        good: Status.PASS,
        bad: Status.FAIL,
    }


def test_denied_describe_is_an_error(aws: None, hooked: Any) -> None:
    good = _table("us-east-1", "sessions", True)
    result = run_collector(
        DynamoDbTablesCollector,
        PARAMS,
        aws_session_factory=hooked(deny=("DescribeContinuousBackups",)),
    )
    finding = result.finding("aws_dynamodb_tables.pitr_enabled", good)
    assert finding.status is Status.ERROR
    assert "dynamodb:DescribeContinuousBackups" in finding.message
