"""CloudTrail trails: multi-region coverage, logging state, log file validation."""

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
from collectors.aws._controls import AUDIT_LOGGING

MULTI_REGION = "aws_cloudtrail.multi_region_trail"


@register
class CloudTrailCollector(Collector):
    """Every CloudTrail trail homed in the selected regions, with its status and selectors.

    Collected: ``cloudtrail:DescribeTrails`` per region (trails homed there; the API is not
    paginated), then per trail ``cloudtrail:GetTrailStatus`` and
    ``cloudtrail:GetEventSelectors`` in the trail's home region.

    Example row: ``arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail``,
    multi-region, organization trail, logging, log file validation on, delivering to
    ``acme-cloudtrail-logs`` encrypted with KMS, management events read and write.
    """

    key = "aws_cloudtrail"
    title = "AWS CloudTrail trails"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
    )
    columns = (
        Column("arn", "string", "Trail ARN."),
        Column("name", "string", "Trail name."),
        Column("account_id", "string", "AWS account id."),
        Column("home_region", "string", "Region the trail was created in."),
        Column("multi_region", "boolean", "The trail records events of every region."),
        Column("organization_trail", "boolean", "The trail covers the whole organization."),
        Column("logging", "boolean", "The trail is currently logging."),
        Column("log_file_validation", "boolean", "Log file integrity validation is on."),
        Column("s3_bucket", "string", "Bucket receiving the log files."),
        Column("kms_key_id", "string", "KMS key encrypting the log files."),
        Column("cloudwatch_log_group_arn", "string", "CloudWatch Logs group, if any."),
        Column("latest_delivery_at", "datetime", "Last successful delivery to S3 (UTC)."),
        Column("custom_event_selectors", "boolean", "Selectors differ from the default."),
        Column("event_selectors", "json", "Basic event selectors as returned."),
        Column("advanced_event_selectors", "json", "Advanced event selectors as returned."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per trail, sorted by ARN."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[tuple[Any, dict[str, Any]]]:
            trails = client.describe_trails(includeShadowTrails=False).get("trailList") or []
            return [(client, t) for t in trails if t.get("HomeRegion", region) == region]

        trails = aws.collect_regional(ctx, "cloudtrail", lister, assertions=(MULTI_REGION,))

        def describe(item: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
            client, trail = item
            arn = trail["TrailARN"]
            status = aws.call(
                ctx, client, "get_trail_status", resource=arn, assertions=(MULTI_REGION,),
                Name=arn,
            ) or {}  # fmt: skip
            selectors = aws.call(
                ctx, client, "get_event_selectors", resource=arn, assertions=(MULTI_REGION,),
                TrailName=arn,
            ) or {}  # fmt: skip
            return {
                "arn": arn,
                "name": trail.get("Name"),
                "account_id": account,
                "home_region": trail.get("HomeRegion"),
                "multi_region": trail.get("IsMultiRegionTrail"),
                "organization_trail": trail.get("IsOrganizationTrail"),
                "logging": status.get("IsLogging"),
                "log_file_validation": trail.get("LogFileValidationEnabled"),
                "s3_bucket": trail.get("S3BucketName"),
                "kms_key_id": trail.get("KmsKeyId"),
                "cloudwatch_log_group_arn": trail.get("CloudWatchLogsLogGroupArn"),
                "latest_delivery_at": status.get("LatestDeliveryTime"),
                "custom_event_selectors": trail.get("HasCustomEventSelectors"),
                "event_selectors": selectors.get("EventSelectors"),
                "advanced_event_selectors": selectors.get("AdvancedEventSelectors"),
            }

        return sorted(aws.pmap(ctx, describe, trails), key=lambda row: row["arn"])

    @assertion(
        MULTI_REGION,
        title="A multi-region CloudTrail trail is logging with log file validation",
        severity=Severity.HIGH,
        remediation="Create one: `aws cloudtrail create-trail --name org-trail "
        "--s3-bucket-name BUCKET --is-multi-region-trail --enable-log-file-validation "
        "[--is-organization-trail --kms-key-id KEY]` then `aws cloudtrail start-logging "
        "--name org-trail`; keep the default selector (all management events).",
        per="table",
        **AUDIT_LOGGING,
    )
    def multi_region_trail(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """One outcome for the account (``*``).

        PASS when a trail is multi-region, logging, validates log files and records read
        and write management events; FAIL lists what each trail lacks.
        """
        gaps = {row["name"]: _gaps(row) for row in rows}
        good = sorted(name for name, missing in gaps.items() if not missing)
        if good:
            yield Outcome(Status.PASS, f"Multi-region trail(s) logging: {', '.join(good)}.", "*")
            return
        if not rows:
            yield Outcome(Status.FAIL, "The account has no CloudTrail trail.", "*")
            return
        details = "; ".join(f"{name}: {', '.join(gaps[name])}" for name in sorted(gaps))
        yield Outcome(Status.FAIL, f"No trail qualifies ({details}).", "*")


def _gaps(row: dict[str, Any]) -> list[str]:
    missing = []
    if not row["multi_region"]:
        missing.append("single-region")
    if not row["logging"]:
        missing.append("not logging")
    if not row["log_file_validation"]:
        missing.append("no log file validation")
    if not _all_management_events(row):
        missing.append("not all management events")
    return missing


def _all_management_events(row: dict[str, Any]) -> bool:
    if not (row["event_selectors"] or row["advanced_event_selectors"]):
        # no selectors returned: the trail's default (all management events) applies
        return row["custom_event_selectors"] is not True
    for selector in row["event_selectors"] or []:
        if (
            selector.get("IncludeManagementEvents", True)
            and selector.get("ReadWriteType", "All") == "All"
        ):
            return True
    for selector in row["advanced_event_selectors"] or []:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or []}
        category = fields.get("eventCategory") or {}
        if "Management" in (category.get("Equals") or []) and "readOnly" not in fields:
            return True
    return False
