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
    """Every CloudTrail trail covering the selected regions, with its status and selectors.

    Collected: ``cloudtrail:DescribeTrails`` per region with shadow trails included, so a
    multi-region trail homed elsewhere and an organization trail created in the management
    account are seen too; a trail returned by several regions is one row (by ARN). Then per
    trail, in its home region and by ARN, ``cloudtrail:GetTrailStatus`` (member accounts may
    read an organization trail's status) and ``cloudtrail:GetEventSelectors`` (skipped for a
    trail owned by another account, which the API refuses: the check then relies on
    ``HasCustomEventSelectors``). A failed status read is an ERROR naming the permission and
    the trail, never a pass.

    Example row: ``arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail`` seen from
    member account ``123456789012``, multi-region, organization trail owned by
    ``111122223333``, logging, log file validation on, delivering to
    ``acme-cloudtrail-logs`` encrypted with KMS, management events read and write.
    """

    key = "aws_cloudtrail"
    title = "AWS CloudTrail trails"
    version = 2
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
        Column("account_id", "string", "AWS account id (the account collected)."),
        Column(
            "owner_account_id",
            "string",
            "Account owning the trail (the management account for an organization trail).",
        ),
        Column("home_region", "string", "Region the trail was created in."),
        Column("multi_region", "boolean", "The trail records events of every region."),
        Column("organization_trail", "boolean", "An organization trail (covers every member)."),
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
        """One row per trail (de-duplicated by ARN), sorted by ARN."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[dict[str, Any]]:
            return client.describe_trails(includeShadowTrails=True).get("trailList") or []

        seen = aws.collect_regional(ctx, "cloudtrail", lister, assertions=(MULTI_REGION,))
        trails = list({t["TrailARN"]: t for t in seen if t.get("TrailARN")}.values())

        def describe(trail: dict[str, Any]) -> dict[str, Any]:
            arn = trail["TrailARN"]
            home = trail.get("HomeRegion") or _arn_part(arn, 3)
            owner = _arn_part(arn, 4) or account
            client = ctx.aws_client("cloudtrail", home)
            status = _trail_status(ctx, client, trail, owner=owner, account=account)
            selectors: dict[str, Any] = {}
            if owner == account:  # the API refuses another account's trail ARN
                selectors = aws.call(
                    ctx, client, "get_event_selectors", resource=arn,
                    assertions=(MULTI_REGION,), TrailName=arn,
                ) or {}  # fmt: skip
            return {
                "arn": arn,
                "name": trail.get("Name"),
                "account_id": account,
                "owner_account_id": owner,
                "home_region": home,
                "multi_region": trail.get("IsMultiRegionTrail"),
                "organization_trail": bool(trail.get("IsOrganizationTrail")),
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

        return sorted(aws.pmap(ctx, describe, trails, api="cloudtrail"), key=lambda row: row["arn"])

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

        PASS when a trail (the account's own or an organization trail) is multi-region,
        logging, validates log files and records read and write management events; FAIL
        lists what each trail lacks; ERROR when no trail qualifies but one might, had its
        status or selectors been readable.
        """
        labels = _labels(rows)
        gaps = {labels[row["arn"]]: _gaps(row) for row in rows}
        unknown = {labels[row["arn"]]: _unknowns(row) for row in rows}
        good = sorted(name for name in gaps if not gaps[name] and not unknown[name])
        if good:
            yield Outcome(Status.PASS, f"Multi-region trail(s) logging: {', '.join(good)}.", "*")
            return
        if not rows:
            yield Outcome(Status.FAIL, "The account has no CloudTrail trail.", "*")
            return
        undecided = sorted(name for name in gaps if not gaps[name])
        if undecided:
            details = "; ".join(f"{name}: {', '.join(unknown[name])}" for name in undecided)
            yield Outcome(Status.ERROR, f"No trail could be confirmed ({details}).", "*")
            return
        details = "; ".join(f"{name}: {', '.join(gaps[name])}" for name in sorted(gaps))
        yield Outcome(Status.FAIL, f"No trail qualifies ({details}).", "*")


def _arn_part(arn: str, index: int) -> str:
    parts = arn.split(":")
    return parts[index] if len(parts) > index else ""


def _trail_status(
    ctx: CollectionContext, client: Any, trail: dict[str, Any], *, owner: str, account: str
) -> dict[str, Any]:
    """``GetTrailStatus`` by ARN; on failure an error naming the permission and the trail."""
    arn = trail["TrailARN"]
    try:
        return client.get_trail_status(Name=arn)
    except aws.botocore_errors() as exc:
        action = aws.action_of(client, "GetTrailStatus")
        kind = "organization trail" if trail.get("IsOrganizationTrail") else "trail"
        whose = f" owned by account {owner}" if owner != account else ""
        hint = f": grant {action} to read its logging state" if aws.is_denied(exc) else ""
        ctx.error(
            f"{aws.error_code(exc)} on {action} for {kind} {arn}{whose}{hint}",
            action=action,
            resource=arn,
            assertions=(MULTI_REGION,),
        )
        return {}


def _labels(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Trail name per ARN, or the ARN where several trails share a name."""
    names = [row["name"] for row in rows]
    return {
        row["arn"]: row["name"] if names.count(row["name"]) == 1 else row["arn"] for row in rows
    }


def _gaps(row: dict[str, Any]) -> list[str]:
    """What the trail definitely lacks."""
    missing = []
    if not row["multi_region"]:
        missing.append("single-region")
    if row["logging"] is False:
        missing.append("not logging")
    if not row["log_file_validation"]:
        missing.append("no log file validation")
    if _all_management_events(row) is False:
        missing.append("not all management events")
    return missing


def _unknowns(row: dict[str, Any]) -> list[str]:
    """What could not be read about the trail."""
    unknown = []
    if row["logging"] is None:
        unknown.append("logging state unknown (cloudtrail:GetTrailStatus)")
    if _all_management_events(row) is None:
        owner = row.get("owner_account_id")
        if owner and owner != row.get("account_id"):
            unknown.append(f"custom event selectors readable only in owner account {owner}")
        else:
            unknown.append("custom event selectors not readable (cloudtrail:GetEventSelectors)")
    return unknown


def _all_management_events(row: dict[str, Any]) -> bool | None:
    """Whether read and write management events are recorded (``None``: selectors unread)."""
    if row["event_selectors"] is None and row["advanced_event_selectors"] is None:
        # not read (another account's trail, or the call failed): without custom selectors
        # the default (all management events) applies
        return None if row["custom_event_selectors"] is True else True
    if not (row["event_selectors"] or row["advanced_event_selectors"]):
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
