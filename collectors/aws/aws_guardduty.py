"""GuardDuty: whether threat detection is enabled in every region."""

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
from collectors.aws._controls import THREAT_DETECTION

ENABLED = "aws_guardduty.enabled"


@register
class GuardDutyCollector(Collector):
    """The GuardDuty detector of every selected region (one row per region).

    Collected: ``guardduty:ListDetectors`` (paginated) per region, then
    ``guardduty:GetDetector``. A region without a detector still gets a row, named
    ``arn:<partition>:guardduty:<region>:<account>:detector`` with a null detector id; a
    region whose detectors cannot be listed is an ERROR under that name.

    Example row: ``arn:aws:guardduty:eu-west-1:123456789012:detector/12abc34d567e8fa90``,
    status ENABLED, findings published every FIFTEEN_MINUTES.
    """

    key = "aws_guardduty"
    title = "AWS GuardDuty detectors (per region)"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
    )
    columns = (
        Column("arn", "string", "Detector ARN (or the region's detector name when none)."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region."),
        Column("detector_id", "string", "Detector id (null: GuardDuty never enabled)."),
        Column("status", "string", "ENABLED or DISABLED (null: no detector)."),
        Column("finding_publishing_frequency", "string", "How often findings are exported."),
        Column("features", "json", "Protection plans and their status."),
        Column("updated_at", "datetime", "Last change of the detector (UTC)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per region (per detector), sorted by ARN."""
        account, partition = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[dict[str, Any]]:
            base = f"arn:{partition}:guardduty:{region}:{account}:detector"
            ids = aws.paginate(client, "list_detectors", "DetectorIds")
            if not ids:
                return [_row(base, account, region, None, {})]
            rows = []
            for detector_id in sorted(ids):
                arn = f"{base}/{detector_id}"
                detail = aws.call(
                    ctx, client, "get_detector", resource=arn, assertions=(ENABLED,),
                    DetectorId=detector_id,
                )  # fmt: skip
                rows.append(_row(arn, account, region, detector_id, detail or {}))
            return rows

        rows = aws.collect_regional(
            ctx, "guardduty", lister, assertions=(ENABLED,),
            region_resource=lambda r: f"arn:{partition}:guardduty:{r}:{account}:detector",
        )  # fmt: skip
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        ENABLED,
        title="GuardDuty is enabled in every region",
        severity=Severity.HIGH,
        remediation="Enable it per region: `aws guardduty create-detector --enable "
        "--region REGION` (or `update-detector --enable` for a disabled one); with AWS "
        "Organizations, use a delegated administrator with auto-enable.",
        **THREAT_DETECTION,
    )
    def enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when the region's detector is ENABLED; ERROR when its status was not read."""
        if row["status"] == "ENABLED":
            return Outcome(Status.PASS, f"GuardDuty is enabled in {row['region']}.")
        if row["detector_id"] is not None and row["status"] is None:
            return Outcome(
                Status.ERROR, f"The status of GuardDuty in {row['region']} could not be read."
            )
        if row["detector_id"] is None:
            return Outcome(Status.FAIL, f"GuardDuty has never been enabled in {row['region']}.")
        return Outcome(Status.FAIL, f"GuardDuty is suspended in {row['region']}.")


def _row(
    arn: str, account: str, region: str, detector_id: str | None, detail: dict[str, Any]
) -> dict[str, Any]:
    features = detail.get("Features") or []
    return {
        "arn": arn,
        "account_id": account,
        "region": region,
        "detector_id": detector_id,
        "status": detail.get("Status"),
        "finding_publishing_frequency": detail.get("FindingPublishingFrequency"),
        "features": sorted(
            [{"name": f.get("Name"), "status": f.get("Status")} for f in features],
            key=lambda f: str(f["name"]),
        ),
        "updated_at": detail.get("UpdatedAt"),
    }
