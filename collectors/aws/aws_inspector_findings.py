"""Amazon Inspector: open vulnerability findings and their remediation deadlines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    ErrorKind,
    Outcome,
    Severity,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.vulnerabilities import (
    DEADLINE_PARAMS,
    VULNERABILITY_CONTROLS,
    VULNERABILITY_RATIONALE,
    judge_open,
)

_KEY = "aws_inspector_findings"
WITHIN_DEADLINE = f"{_KEY}.remediated_within_deadline"
#: Only findings Inspector still considers open (not SUPPRESSED, not CLOSED).
ACTIVE_FILTER = {"findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}]}
#: ListFindings' largest page.
PAGE_SIZE = 100


@register
class InspectorFindingsCollector(Collector):
    """Every open (ACTIVE) Amazon Inspector finding of the account, one row per finding.

    Collected per region: ``inspector2:BatchGetAccountStatus`` for the account (is Inspector
    enabled here, and for which resource types), then ``inspector2:ListFindings`` filtered
    on ``findingStatus = ACTIVE``, 100 per page, following ``nextToken`` to the end;
    throttling (``ThrottlingException``) is retried by the SDK's adaptive retries. Each
    finding keeps its severity, the resource it is on (EC2 instance, ECR image, Lambda
    function), when Inspector first observed it, and whether a fix is available.

    A region where Inspector is not enabled (or is suspended) cannot say anything about its
    vulnerabilities: it is an ERROR for ``arn:<partition>:inspector2:<region>:<account>:
    scanning``, never a pass; when no collected region has Inspector enabled the run fails
    with that message. A region whose findings cannot be listed (access denied, an error
    page) is an ERROR under the same name and the other regions go on.

    The assertion judges each open finding against the remediation deadline of its severity
    (``collectors.vulnerabilities``: the exceptions register's deadlines, critical 7 days,
    high 30, medium 90, low 180 unless the thresholds say otherwise), counted from
    ``first_observed_at``; informational and untriaged findings have no deadline.

    Example row: ``arn:aws:inspector2:eu-west-1:123456789012:finding/0c1d...``, CRITICAL
    ``CVE-2026-0001`` in ``openssl 3.0.1`` on EC2 instance ``i-0abc``, first observed
    2026-11-20, fix available YES: failing its 7-day deadline on 2026-12-01.
    """

    key = _KEY
    title = "AWS Inspector open findings (remediation deadlines)"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "inspector2:BatchGetAccountStatus",
        "inspector2:ListFindings",
    )
    columns = (
        Column("arn", "string", "Finding ARN."),
        Column("account_id", "string", "AWS account id of the finding."),
        Column("region", "string", "Region."),
        Column("title", "string", "Finding title (usually the CVE and package)."),
        Column(
            "finding_type",
            "string",
            "PACKAGE_VULNERABILITY, CODE_VULNERABILITY or NETWORK_REACHABILITY.",
        ),  # fmt: skip
        Column(
            "severity",
            "string",
            "Inspector severity: CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL or UNTRIAGED.",
        ),  # fmt: skip
        Column("inspector_score", "float", "Inspector score (CVSS adjusted to the environment)."),
        Column("vulnerability_id", "string", "CVE or other vulnerability id (package findings)."),
        Column("packages", "json", "Vulnerable packages: name, version, fixed-in version."),
        Column(
            "resource_type",
            "string",
            "AWS_EC2_INSTANCE, AWS_ECR_CONTAINER_IMAGE, AWS_LAMBDA_FUNCTION, ...",
        ),  # fmt: skip
        Column("resource_id", "string", "The affected resource (ARN or instance id)."),
        Column("first_observed_at", "datetime", "When Inspector first observed the finding."),
        Column("last_observed_at", "datetime", "When Inspector last observed it."),
        Column("updated_at", "datetime", "Last update of the finding."),
        Column("fix_available", "string", "YES, NO or PARTIAL."),
        Column("exploit_available", "string", "YES or NO."),
        Column("status", "string", "Finding status (ACTIVE)."),
        Column("remediation", "string", "Inspector's recommendation."),
        Column("as_of", "datetime", "Collection time the deadline is judged at (UTC)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per ACTIVE finding in every enabled region, sorted by ARN."""
        account, partition = aws.caller(ctx)
        names = aws.regions(ctx, assertions=(WITHIN_DEADLINE,))
        as_of = ctx.now()

        def one(region: str) -> tuple[list[dict[str, Any]], str | None]:
            client = ctx.aws_client("inspector2", region)
            scanning = f"arn:{partition}:inspector2:{region}:{account}:scanning"
            action = "inspector2:BatchGetAccountStatus"
            try:
                problem = _not_enabled(client, account, region)
                if problem is None:
                    action = "inspector2:ListFindings"
                    return list(_rows(ctx, client, account, region, as_of)), None
            except aws.botocore_errors() as exc:
                detail = _message(exc)
                problem = f"{aws.error_code(exc)} on {action} in {region}" + (
                    f": {detail}" if detail else ""
                )
            ctx.error(
                f"{problem}; the open findings of {region} could not be judged",
                action=action,
                resource=scanning,
                assertions=(WITHIN_DEADLINE,),
            )
            return [], problem

        results = aws.pmap(ctx, one, names)
        problems = [problem for _, problem in results if problem is not None]
        if problems and len(problems) == len(names):
            denied = all("AccessDenied" in p for p in problems)
            raise CollectorError(
                "Amazon Inspector findings could not be read in any collected region: "
                + "; ".join(problems),
                permanent=True,
                action="inspector2:ListFindings",
                kind=ErrorKind.PERMISSION if denied else ErrorKind.CONFIGURATION,
            )
        rows = [row for region_rows, _ in results for row in region_rows]
        return sorted(rows, key=lambda row: row["arn"])

    @assertion(
        WITHIN_DEADLINE,
        title="No open Inspector finding is past its remediation deadline",
        severity=Severity.HIGH,
        remediation="Patch or rebuild the affected resource (update the package, redeploy the "
        "image or function, or replace the instance), then let Inspector rescan; a finding "
        "that cannot be fixed in time needs a risk acceptance in the exceptions register.",
        controls=VULNERABILITY_CONTROLS,
        rationale=VULNERABILITY_RATIONALE,
        params=DEADLINE_PARAMS,
        per="table",
    )
    def remediated_within_deadline(
        rows: list[dict[str, Any]], params: dict[str, Any]
    ) -> Iterator[Outcome]:
        """Per open finding: PASS within its severity's deadline, FAIL past it (the finding's
        severity); one PASS for the whole collection when no open finding has a deadline."""
        return judge_open(
            rows,
            params,
            what=lambda row: (
                f"{row['vulnerability_id'] or row['title'] or 'finding'} on {row['resource_id']}"
            ),
            first_seen="first_observed_at",
            resource="arn",
            nothing=f"No open Inspector finding with a remediation deadline ({len(rows)} open "
            "informational or untriaged).",
        )


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or "")
    return ""


def _not_enabled(client: Any, account: str, region: str) -> str | None:
    """Why Inspector cannot be read in ``region`` (None: enabled, or status unreadable).

    A denied status read is not a verdict: ListFindings then decides.
    """
    try:
        answer = client.batch_get_account_status(accountIds=[account])
    except aws.botocore_errors() as exc:
        if aws.is_denied(exc):
            return None
        raise
    for entry in answer.get("accounts") or []:
        if entry.get("accountId") != account:
            continue
        state = entry.get("state") or {}
        status = str(state.get("status") or "UNKNOWN")
        if status == "ENABLED":
            return None
        reason = state.get("errorMessage") or state.get("errorCode")
        return (
            f"Amazon Inspector is not enabled in {region} for account {account} "
            f"(status {status}{': ' + str(reason) if reason else ''})"
        )
    for failed in answer.get("failedAccounts") or []:
        if failed.get("accountId") == account:
            return (
                f"Amazon Inspector's status in {region} could not be read for account "
                f"{account} ({failed.get('errorCode')}: {failed.get('errorMessage')})"
            )
    return f"Amazon Inspector is not enabled in {region} for account {account} (no status)"


def _rows(
    ctx: CollectionContext, client: Any, account: str, region: str, as_of: Any
) -> Iterator[dict[str, Any]]:
    """Rows of the ACTIVE findings of one region, page by page."""
    pages = client.get_paginator("list_findings").paginate(
        filterCriteria=ACTIVE_FILTER, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        ctx.check_budget()
        for finding in page.get("findings") or []:
            yield _row(finding, account, region, as_of)


def _row(finding: dict[str, Any], account: str, region: str, as_of: Any) -> dict[str, Any]:
    resources = finding.get("resources") or [{}]
    resource = resources[0]
    details = finding.get("packageVulnerabilityDetails") or {}
    recommendation = (finding.get("remediation") or {}).get("recommendation") or {}
    packages = [
        {
            "name": p.get("name"),
            "version": p.get("version"),
            "fixed_in": p.get("fixedInVersion"),
        }
        for p in details.get("vulnerablePackages") or []
    ]
    severity = finding.get("severity")
    return {
        "arn": finding.get("findingArn"),
        "account_id": finding.get("awsAccountId") or account,
        "region": resource.get("region") or region,
        "title": finding.get("title"),
        "finding_type": finding.get("type"),
        "severity": str(severity).upper() if severity else None,
        "inspector_score": finding.get("inspectorScore"),
        "vulnerability_id": details.get("vulnerabilityId"),
        "packages": sorted(packages, key=lambda p: (str(p["name"]), str(p["version"]))),
        "resource_type": resource.get("type"),
        "resource_id": resource.get("id"),
        "first_observed_at": finding.get("firstObservedAt"),
        "last_observed_at": finding.get("lastObservedAt"),
        "updated_at": finding.get("updatedAt"),
        "fix_available": finding.get("fixAvailable"),
        "exploit_available": finding.get("exploitAvailable"),
        "status": finding.get("status"),
        "remediation": recommendation.get("text"),
        "as_of": as_of,
    }
