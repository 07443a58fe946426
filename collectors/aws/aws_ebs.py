"""EBS encryption by default: the account-level setting of every region."""

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
from collectors.aws._controls import ENCRYPTION_AT_REST

DEFAULT_ENCRYPTION = "aws_ebs.default_encryption"


@register
class EbsCollector(Collector):
    """EBS encryption by default, one row per region.

    Collected: ``ec2:GetEbsEncryptionByDefault`` in every selected region (concurrently).
    When the setting is on, every new EBS volume and snapshot copy is encrypted, whoever
    creates it. The setting has no ARN of its own, so each row is named
    ``arn:<partition>:ec2:<region>:<account>:ebs-encryption-by-default``. A region whose
    setting cannot be read is an ERROR under that same name.

    Example row: ``arn:aws:ec2:eu-west-1:123456789012:ebs-encryption-by-default``, region
    ``eu-west-1``, ``encryption_by_default`` true.
    """

    key = "aws_ebs"
    title = "AWS EBS encryption by default (per region)"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (*aws.REGIONAL_PERMISSIONS, "ec2:GetEbsEncryptionByDefault")
    columns = (
        Column("arn", "string", "Name of the regional setting (account, region)."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the setting."),
        Column("encryption_by_default", "boolean", "New EBS volumes are always encrypted."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per region, sorted by ARN."""
        account, partition = aws.caller(ctx)

        def name(region: str) -> str:
            return f"arn:{partition}:ec2:{region}:{account}:ebs-encryption-by-default"

        def lister(client: Any, region: str) -> list[dict[str, Any]]:
            response = client.get_ebs_encryption_by_default()
            return [
                {
                    "arn": name(region),
                    "account_id": account,
                    "region": region,
                    "encryption_by_default": bool(response.get("EbsEncryptionByDefault")),
                }
            ]

        rows = aws.collect_regional(
            ctx, "ec2", lister, assertions=(DEFAULT_ENCRYPTION,), region_resource=name
        )
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        DEFAULT_ENCRYPTION,
        title="EBS encryption by default is on in every region",
        severity=Severity.MEDIUM,
        remediation="Turn it on per region: `aws ec2 enable-ebs-encryption-by-default "
        "--region REGION` (EC2 console > Settings > EBS encryption). Existing volumes are "
        "not changed; see aws_ebs_volumes.encrypted.",
        **ENCRYPTION_AT_REST,
    )
    def default_encryption(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when EBS encryption by default is enabled in the region."""
        if row["encryption_by_default"]:
            return Outcome(Status.PASS, f"EBS encryption by default is on in {row['region']}.")
        return Outcome(Status.FAIL, f"EBS encryption by default is off in {row['region']}.")
