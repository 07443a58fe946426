"""AWS WAF (v2) web ACLs in front of internet-facing load balancers and API Gateway stages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import RATE_LIMITING, WEB_APPLICATION_FIREWALL

ASSOCIATED = "aws_waf_web_acls.api_protected"
RATE_RULE = "aws_waf_web_acls.rate_based_rule"
BOTH = (ASSOCIATED, RATE_RULE)

#: ``Limit`` of one ``wafv2:ListWebACLs`` page (the API's maximum).
PAGE_SIZE = 100

ALB = "application_load_balancer"
STAGE = "api_gateway_stage"
_WAF_TYPES = {ALB: "APPLICATION_LOAD_BALANCER", STAGE: "API_GATEWAY"}


@register
class WafWebAclsCollector(Collector):
    """Every internet-facing ALB and API Gateway REST stage, with the WAF web ACL protecting it.

    Collected per region: ``elasticloadbalancing:DescribeLoadBalancers`` (internet-facing
    application load balancers), ``apigateway:GET`` on ``/restapis`` and their
    ``/stages``, then ``wafv2:ListWebACLs`` (scope REGIONAL, paginated with ``NextMarker``),
    ``wafv2:GetWebACL`` for each web ACL's rules and ``wafv2:ListResourcesForWebACL`` (for
    ``APPLICATION_LOAD_BALANCER`` and ``API_GATEWAY``) to find what each web ACL protects.
    A call that fails leaves the facts it would have read unknown (``null``): the affected
    resources are ERROR, never FAIL. Rate-based rules inside the rule groups a web ACL
    references are read with ``wafv2:GetRuleGroup`` (once per group and region) and count
    with the action they take there: Count when the reference overrides the group to Count
    or overrides or excludes that rule. A group that cannot be read is ERROR unless the web
    ACL blocks by a rate-based rule of its own anyway. AWS-managed rule groups hold no
    rate-based rules and are not read.

    Example row: the REST stage ``arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/prod``
    protected by web ACL ``api-acl``, whose rule ``per-ip`` is a rate-based statement with
    limit 2000 and action Block.
    """

    key = "aws_waf_web_acls"
    title = "AWS WAF web ACLs protecting load balancers and API stages"
    version = 2
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "elasticloadbalancing:DescribeLoadBalancers",
        "apigateway:GET",
        "wafv2:ListWebACLs",
        "wafv2:GetWebACL",
        "wafv2:GetRuleGroup",
        "wafv2:ListResourcesForWebACL",
    )
    columns = (
        Column("resource", "string", "The resource's ARN with the account filled in."),
        Column("arn", "string", "The resource's own ARN (a stage ARN has no account)."),
        Column("kind", "string", "application_load_balancer or api_gateway_stage."),
        Column("name", "string", "Load balancer name, or REST API name/stage name."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the resource."),
        Column("association_read", "boolean", "Whether every web ACL's resources were read."),
        Column("web_acl_arn", "string", "ARN of the associated web ACL (null: none found)."),
        Column("web_acl_name", "string", "Name of the associated web ACL."),
        Column(
            "rate_based_rules",
            "json",
            "Rate-based rules of the web ACL (name, limit, action); null when not read.",
        ),
    )
    resource_column = "resource"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per internet-facing ALB and REST API stage, sorted by resource."""
        account, _ = aws.caller(ctx)
        names = aws.regions(ctx, assertions=BOTH)
        codes: list[str] = []  # error codes of failed listings (list.append is thread-safe)
        results = aws.pmap(ctx, lambda region: _region(ctx, account, region, codes), names)
        if all(not ok for _, ok in results):
            raise CollectorError(
                f"{', '.join(sorted(set(codes)))}: neither load balancers nor REST APIs could "
                f"be listed in {', '.join(names)}",
                permanent=any(code in aws.DENIED_CODES for code in codes),
                action="elasticloadbalancing:DescribeLoadBalancers",
            )
        rows = [row for found, _ in results for row in found]
        return sorted(rows, key=lambda row: row["resource"])

    @assertion(
        ASSOCIATED,
        title="Internet-facing load balancers and API stages are behind a WAF web ACL",
        severity=Severity.HIGH,
        remediation="Associate a regional web ACL with the resource: `aws wafv2 "
        "associate-web-acl --web-acl-arn ACL_ARN --resource-arn RESOURCE_ARN`.",
        **WEB_APPLICATION_FIREWALL,
    )
    def api_protected(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when a web ACL protects the resource; ERROR when associations were not read."""
        if row["web_acl_arn"]:
            return Outcome(Status.PASS, f"{row['name']} is protected by {row['web_acl_name']}.")
        if not row["association_read"]:
            return Outcome(Status.ERROR, f"Web ACL associations of {row['name']} were not read.")
        return Outcome(Status.FAIL, f"{row['name']} has no WAF web ACL.")

    @assertion(
        RATE_RULE,
        title="The web ACL in front of each API has a blocking rate-based rule",
        severity=Severity.HIGH,
        remediation="Add a rule with a RateBasedStatement (a limit per client IP over "
        "5 minutes) and action Block to the web ACL associated with the resource.",
        **RATE_LIMITING,
    )
    def rate_based_rule(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when the associated web ACL has a rate-based rule whose action is Block."""
        if not row["web_acl_arn"]:
            if not row["association_read"]:
                return Outcome(
                    Status.ERROR, f"Web ACL associations of {row['name']} were not read."
                )
            return Outcome(Status.FAIL, f"{row['name']} has no web ACL, so no rate-based rule.")
        rules = row["rate_based_rules"]
        if rules is None:
            return Outcome(Status.ERROR, f"Rules of web ACL {row['web_acl_name']} were not read.")
        blocking = [r for r in rules if r["action"] == "Block"]
        if blocking:
            limits = ", ".join(f"{r['name']} ({r['limit']})" for r in blocking)
            return Outcome(
                Status.PASS, f"{row['name']}: web ACL {row['web_acl_name']} blocks at {limits}."
            )
        unread = [r for r in rules if r.get("unread")]
        if unread:
            names = ", ".join(f"{r['name']}: {r['unread']} on wafv2:GetRuleGroup" for r in unread)
            return Outcome(Status.ERROR, f"{row['name']}: rule groups of web ACL "
                           f"{row['web_acl_name']} were not read ({names}).")  # fmt: skip
        if rules:
            actions = ", ".join(f"{r['name']} ({r['action']})" for r in rules)
            return Outcome(
                Status.FAIL,
                f"{row['name']}: rate-based rules of {row['web_acl_name']} do not block: "
                f"{actions}.",
            )
        return Outcome(
            Status.FAIL, f"{row['name']}: web ACL {row['web_acl_name']} has no rate-based rule."
        )


def _region(
    ctx: CollectionContext, account: str, region: str, codes: list[str]
) -> tuple[list[dict[str, Any]], bool]:
    """The rows of one region, and whether any resource listing succeeded there."""
    albs = _load_balancers(ctx, account, region, codes)
    stages = _stages(ctx, account, region, codes)
    rows = [*(albs or []), *(stages or [])]
    if rows:
        _attach_web_acls(ctx, region, rows)
    return rows, albs is not None or stages is not None


def _record(
    ctx: CollectionContext, exc: BaseException, action: str, region: str, codes: list[str]
) -> None:
    codes.append(aws.error_code(exc))
    ctx.error(
        f"{aws.error_code(exc)} on {action} in {region}: resources there were not collected",
        action=action,
        assertions=BOTH,
    )


def _load_balancers(
    ctx: CollectionContext, account: str, region: str, codes: list[str]
) -> list[dict[str, Any]] | None:
    client = ctx.aws_client("elbv2", region)
    try:
        balancers = aws.paginate(client, "describe_load_balancers", "LoadBalancers")
    except aws.botocore_errors() as exc:
        _record(ctx, exc, "elasticloadbalancing:DescribeLoadBalancers", region, codes)
        return None
    return [
        _row(
            lb["LoadBalancerArn"],
            lb["LoadBalancerArn"],
            ALB,
            lb["LoadBalancerName"],
            account,
            region,
        )  # fmt: skip
        for lb in balancers
        if lb.get("Type") == "application" and lb.get("Scheme") == "internet-facing"
    ]


def _stages(
    ctx: CollectionContext, account: str, region: str, codes: list[str]
) -> list[dict[str, Any]] | None:
    client = ctx.aws_client("apigateway", region)
    try:
        apis = aws.paginate(client, "get_rest_apis", "items")
    except aws.botocore_errors() as exc:
        _record(ctx, exc, "apigateway:GET", region, codes)
        return None
    rows = []
    for api in apis:
        path = f"/restapis/{api['id']}"
        try:
            stages = client.get_stages(restApiId=api["id"]).get("item") or []
        except aws.botocore_errors() as exc:
            ctx.error(
                f"{aws.error_code(exc)} on apigateway:GET for {path}/stages in {region}: "
                f"the stages of {api.get('name')} were not collected",
                action="apigateway:GET",
                resource=f"arn:aws:apigateway:{region}:{account}:{path}",
                assertions=BOTH,
            )
            continue
        for stage in stages:
            stage_path = f"{path}/stages/{stage['stageName']}"
            rows.append(
                _row(
                    f"arn:aws:apigateway:{region}:{account}:{stage_path}",
                    f"arn:aws:apigateway:{region}::{stage_path}",
                    STAGE,
                    f"{api.get('name')}/{stage['stageName']}",
                    account,
                    region,
                )
            )
    return rows


def _attach_web_acls(ctx: CollectionContext, region: str, rows: list[dict[str, Any]]) -> None:
    """Fill the web ACL columns of ``rows`` (all in ``region``) from wafv2."""
    client = ctx.aws_client("wafv2", region)
    try:
        acls = _list_web_acls(client)
    except aws.botocore_errors() as exc:
        for row in rows:
            ctx.error(
                f"{aws.error_code(exc)} on wafv2:ListWebACLs in {region}: web ACLs were not read",
                action="wafv2:ListWebACLs",
                resource=row["resource"],
                assertions=BOTH,
            )
            row["association_read"] = False
        return
    by_arn = {row["arn"]: row for row in rows}
    unread: dict[str, str] = {}
    groups: dict[str, Any] = {}
    for acl in sorted(acls, key=lambda acl: acl["ARN"]):
        rules = _rate_rules(client, acl, unread, groups)
        for kind, waf_type in _WAF_TYPES.items():
            try:
                protected = client.list_resources_for_web_acl(
                    WebACLArn=acl["ARN"], ResourceType=waf_type
                ).get("ResourceArns", [])
            except aws.botocore_errors() as exc:
                for row in rows:
                    if row["kind"] == kind and not row["web_acl_arn"]:
                        row["association_read"] = False
                        ctx.error(
                            f"{aws.error_code(exc)} on wafv2:ListResourcesForWebACL for "
                            f"{acl['ARN']}: whether it protects {row['name']} is unknown",
                            action="wafv2:ListResourcesForWebACL",
                            resource=row["resource"],
                            assertions=BOTH,
                        )
                continue
            for arn in protected:
                row = by_arn.get(arn)
                if row is not None:
                    row.update(web_acl_arn=acl["ARN"], web_acl_name=acl["Name"])
                    row.update(association_read=True, rate_based_rules=rules)
    for row in rows:
        if row["web_acl_arn"] in unread:
            ctx.error(
                f"{unread[row['web_acl_arn']]} on wafv2:GetWebACL for {row['web_acl_arn']}: "
                f"the rules protecting {row['name']} were not read",
                action="wafv2:GetWebACL",
                resource=row["resource"],
                assertions=(RATE_RULE,),
            )


def _list_web_acls(client: Any) -> list[dict[str, Any]]:
    """Every REGIONAL web ACL summary (wafv2 has no boto3 paginator: follow NextMarker)."""
    acls: list[dict[str, Any]] = []
    marker = None
    while True:
        kwargs: dict[str, Any] = {"Scope": "REGIONAL", "Limit": PAGE_SIZE}
        if marker:
            kwargs["NextMarker"] = marker
        page = client.list_web_acls(**kwargs)
        acls.extend(page.get("WebACLs") or [])
        marker = page.get("NextMarker")
        if not marker or not page.get("WebACLs"):
            return acls


def _rate_rules(
    client: Any, acl: dict[str, Any], unread: dict[str, str], groups: dict[str, Any]
) -> list[Any] | None:
    """The rate-based rules of a web ACL, its own and those of the rule groups it
    references; ``None`` (and its error code in ``unread``) when ``GetWebACL`` failed.
    ``groups`` caches ``GetRuleGroup`` answers (or error codes) by ARN for the region."""
    try:
        found = client.get_web_acl(Name=acl["Name"], Id=acl["Id"], Scope="REGIONAL")
    except aws.botocore_errors() as exc:
        unread[acl["ARN"]] = aws.error_code(exc)
        return None
    rules = []
    for rule in found["WebACL"].get("Rules") or []:
        statement = rule.get("Statement") or {}
        if "RateBasedStatement" in statement:
            rules.append(_rate_rule(rule, _action(rule.get("Action"))))
        elif "RuleGroupReferenceStatement" in statement:
            rules.extend(_group_rate_rules(client, rule, groups))
    return sorted(rules, key=lambda r: r["name"] or "")


def _action(action: dict[str, Any] | None) -> str:
    """``{"Block": {}}`` -> ``"Block"`` (``"None"`` when the rule names no action)."""
    return (sorted(action or {}) or ["None"])[0]


def _rate_rule(rule: dict[str, Any], action: str, group: str | None = None) -> dict[str, Any]:
    statement = rule["Statement"]["RateBasedStatement"]
    name = f"{group}/{rule.get('Name')}" if group else rule.get("Name")
    return {"name": name, "limit": statement.get("Limit"),
            "aggregate_key_type": statement.get("AggregateKeyType"), "action": action}  # fmt: skip


def _group_rate_rules(
    client: Any, reference: dict[str, Any], groups: dict[str, Any]
) -> list[dict[str, Any]]:
    """Rate-based rules of the rule group a web ACL rule references, with the action they
    take in this web ACL: ``Count`` when the reference overrides the group's actions to
    Count, or overrides or excludes that rule; otherwise the rule's own action. A group
    that cannot be read gives one entry with action ``Unknown`` and its error code."""
    statement = reference["Statement"]["RuleGroupReferenceStatement"]
    arn = statement["ARN"]
    if arn not in groups:
        try:
            groups[arn] = client.get_rule_group(ARN=arn)["RuleGroup"]
        except aws.botocore_errors() as exc:
            groups[arn] = aws.error_code(exc)
    group = groups[arn]
    if isinstance(group, str):
        return [{"name": f"{reference.get('Name')} (rule group {arn})", "limit": None,
                 "aggregate_key_type": None, "action": "Unknown", "unread": group}]  # fmt: skip
    counted_all = "Count" in (reference.get("OverrideAction") or {})
    overrides = {o.get("Name"): _action(o.get("ActionToUse"))
                 for o in statement.get("RuleActionOverrides") or []}  # fmt: skip
    excluded = {e.get("Name") for e in statement.get("ExcludedRules") or []}
    rules = []
    for rule in group.get("Rules") or []:
        if "RateBasedStatement" not in (rule.get("Statement") or {}):
            continue
        name = rule.get("Name")
        if counted_all or name in excluded:
            action = "Count"
        else:
            action = overrides.get(name) or _action(rule.get("Action"))
        rules.append(_rate_rule(rule, action, group=group.get("Name") or arn))
    return rules


def _row(
    resource: str, arn: str, kind: str, name: str, account: str, region: str
) -> dict[str, Any]:
    return {
        "resource": resource,
        "arn": arn,
        "kind": kind,
        "name": name,
        "account_id": account,
        "region": region,
        "association_read": True,
        "web_acl_arn": None,
        "web_acl_name": None,
        "rate_based_rules": None,
    }
