"""EBS volumes and whether each one is encrypted."""

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

ENCRYPTED = "aws_ebs_volumes.encrypted"


@register
class EbsVolumesCollector(Collector):
    """Every EBS volume in the selected regions, with its encryption and attachments.

    Collected: ``ec2:DescribeVolumes`` (paginated) in every region, concurrently.

    Example row: ``arn:aws:ec2:eu-west-1:123456789012:volume/vol-0abc``, gp3, 100 GiB,
    ``in-use`` attached to ``i-0def``, encrypted with KMS key ``arn:aws:kms:...:key/...``.
    """

    key = "aws_ebs_volumes"
    title = "AWS EBS volumes"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (*aws.REGIONAL_PERMISSIONS, "ec2:DescribeVolumes")
    columns = (
        Column("arn", "string", "Volume ARN."),
        Column("volume_id", "string", "Volume id (vol-...)."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the volume."),
        Column("encrypted", "boolean", "The volume is encrypted at rest."),
        Column("kms_key_id", "string", "KMS key encrypting the volume (null if unencrypted)."),
        Column("state", "string", "Volume state (available, in-use, ...)."),
        Column("volume_type", "string", "Volume type (gp3, io2, ...)."),
        Column("size_gib", "integer", "Size in GiB."),
        Column("attached_instances", "json", "Sorted ids of the instances it is attached to."),
        Column("created_at", "datetime", "Creation time (UTC)."),
        Column("tags", "json", "Volume tags as an object."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per volume, sorted by ARN."""
        account, partition = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[dict[str, Any]]:
            return [
                _row(volume, account, partition, region)
                for volume in aws.paginate(client, "describe_volumes", "Volumes")
            ]

        rows = aws.collect_regional(ctx, "ec2", lister, assertions=(ENCRYPTED,))
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        ENCRYPTED,
        title="EBS volumes are encrypted",
        severity=Severity.HIGH,
        remediation="EBS cannot encrypt a volume in place: snapshot it, copy the snapshot with "
        "`--encrypted --kms-key-id KEY`, create a volume from the copy and swap it in. Turn on "
        "EBS encryption by default so new volumes are encrypted.",
        **ENCRYPTION_AT_REST,
    )
    def encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when the volume is encrypted."""
        if row["encrypted"]:
            return Outcome(Status.PASS, f"Volume {row['volume_id']} is encrypted.")
        return Outcome(Status.FAIL, f"Volume {row['volume_id']} is not encrypted.")


def _row(volume: dict[str, Any], account: str, partition: str, region: str) -> dict[str, Any]:
    volume_id = volume["VolumeId"]
    return {
        "arn": f"arn:{partition}:ec2:{region}:{account}:volume/{volume_id}",
        "volume_id": volume_id,
        "account_id": account,
        "region": region,
        "encrypted": bool(volume.get("Encrypted")),
        "kms_key_id": volume.get("KmsKeyId"),
        "state": volume.get("State"),
        "volume_type": volume.get("VolumeType"),
        "size_gib": volume.get("Size"),
        "attached_instances": sorted(
            a["InstanceId"] for a in volume.get("Attachments") or [] if a.get("InstanceId")
        ),
        "created_at": volume.get("CreateTime"),
        "tags": aws.tags_dict(volume.get("Tags")),
    }
