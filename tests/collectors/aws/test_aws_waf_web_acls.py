"""aws_waf_web_acls: web ACLs in front of internet-facing ALBs and REST API stages.

moto 5.2 has wafv2 web ACLs and their associations but not ``ListResourcesForWebACL``: that
one call is answered by a ``before-call`` hook (``hooked(fake=...)``, the project's stub for a
single operation) from moto's own association state, so associations made with
``associate_web_acl`` are what the collector sees.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from collectors import CollectorError, Status
from collectors.aws import aws_waf_web_acls as module
from collectors.aws.aws_waf_web_acls import ASSOCIATED, RATE_RULE, WafWebAclsCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["us-east-1"]}
ACCOUNT = "123456789012"
VISIBILITY = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
              "MetricName": "m"}  # fmt: skip


def _rate_rule(name: str, action: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Priority": 1,
        "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}},
        "Action": {action: {}},
        "VisibilityConfig": VISIBILITY,
    }


def _acl(name: str, rules: list[dict[str, Any]]) -> str:
    return boto3.client("wafv2", region_name="us-east-1").create_web_acl(
        Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=rules,
        VisibilityConfig=VISIBILITY,
    )["Summary"]["ARN"]  # fmt: skip


def _associate(acl: str, resource: str) -> None:
    boto3.client("wafv2", region_name="us-east-1").associate_web_acl(
        WebACLArn=acl, ResourceArn=resource
    )


def _albs() -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    elb = boto3.client("elbv2", region_name="us-east-1")
    arns = {}
    for name, scheme in (("web", "internet-facing"), ("api", "internet-facing"),
                         ("internal", "internal"), ("bare", "internet-facing")):  # fmt: skip
        lb = elb.create_load_balancer(Name=name, Subnets=subnets, Scheme=scheme)
        arns[name] = lb["LoadBalancers"][0]["LoadBalancerArn"]
    return arns


def _stage() -> tuple[str, str]:
    """A deployed REST API stage: (resource with account, stage ARN as WAF names it)."""
    client = boto3.client("apigateway", region_name="us-east-1")
    api = client.create_rest_api(name="photos")["id"]
    root = client.get_resources(restApiId=api)["items"][0]["id"]
    client.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    client.create_deployment(restApiId=api, stageName="prod")
    path = f"/restapis/{api}/stages/prod"
    return f"arn:aws:apigateway:us-east-1:{ACCOUNT}:{path}", f"arn:aws:apigateway:us-east-1::{path}"


def _resources_from_moto(request: dict[str, Any]) -> dict[str, Any]:
    """ListResourcesForWebACL answered from moto's association state (moto lacks the call)."""
    import json

    from moto.wafv2.models import wafv2_backends

    body = json.loads(request["body"])
    acl = wafv2_backends[ACCOUNT]["us-east-1"].wacls[body["WebACLArn"]]
    wanted = {"APPLICATION_LOAD_BALANCER": ":elasticloadbalancing:", "API_GATEWAY": ":apigateway:"}
    marker = wanted[body["ResourceType"]]
    return {"ResourceArns": [arn for arn in acl.associated_resources if marker in arn]}


FAKE = {"ListResourcesForWebACL": _resources_from_moto}


def _world() -> dict[str, str]:
    albs = _albs()
    stage, stage_arn = _stage()
    blocking = _acl("blocking", [_rate_rule("per-ip", "Block")])
    counting = _acl("counting", [_rate_rule("per-ip-count", "Count")])
    _associate(blocking, albs["web"])
    _associate(blocking, stage_arn)
    _associate(counting, albs["api"])
    return {**albs, "stage": stage, "blocking": blocking, "counting": counting}


def test_associations_and_rate_based_rules(aws: None, hooked: Any) -> None:
    world = _world()
    factory = hooked(fake=FAKE)
    result = run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=factory)
    assert result.statuses(ASSOCIATED) == {
        world["web"]: Status.PASS,
        world["api"]: Status.PASS,
        world["bare"]: Status.FAIL,
        world["stage"]: Status.PASS,
    }  # the internal load balancer is not internet-facing: no row
    assert result.statuses(RATE_RULE) == {
        world["web"]: Status.PASS,
        world["api"]: Status.FAIL,  # its rate-based rule only counts
        world["bare"]: Status.FAIL,
        world["stage"]: Status.PASS,
    }
    rows = {row["resource"]: row for row in result.rows}
    assert rows[world["web"]]["rate_based_rules"] == [
        {"name": "per-ip", "limit": 2000, "aggregate_key_type": "IP", "action": "Block"}
    ]
    assert rows[world["stage"]]["web_acl_name"] == "blocking"
    assert "Count" in result.finding(RATE_RULE, world["api"]).message
    assert {"wafv2:ListWebACLs", "wafv2:GetWebACL"} <= set(result.api_calls)


def test_web_acls_are_paginated_with_next_marker(
    aws: None, hooked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world()
    last = _acl("zz-last", [_rate_rule("per-ip", "Block")])
    _associate(last, world["bare"])
    monkeypatch.setattr(module, "PAGE_SIZE", 1)  # moto pages for real: 3 ACLs, 3 pages
    calls: list[Any] = []

    def spy(request: dict[str, Any]) -> None:
        import json

        calls.append(json.loads(request["body"]).get("NextMarker"))

    factory = hooked(fake=FAKE)

    def recording(region: str | None) -> Any:
        session = factory(region)
        session.events.register("before-call.wafv2.ListWebACLs", lambda params, **_: spy(params))
        return session

    result = run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=recording)
    assert len(calls) >= 3 and calls[0] is None and all(calls[1:])
    assert result.finding(ASSOCIATED, world["bare"]).status is Status.PASS


@pytest.mark.parametrize("denied", ["ListWebACLs", "ListResourcesForWebACL"])
def test_denied_waf_calls_are_errors_never_failures(aws: None, hooked: Any, denied: str) -> None:
    world = _world()
    result = run_collector(
        WafWebAclsCollector, PARAMS, aws_session_factory=hooked(deny=(denied,), fake=FAKE)
    )
    for resource in (world["web"], world["bare"], world["stage"]):
        for check in (ASSOCIATED, RATE_RULE):
            finding = result.finding(check, resource)
            assert finding.status is Status.ERROR, (check, resource, finding.message)
    assert f"wafv2:{denied}" in result.finding(ASSOCIATED, world["bare"]).message


def test_denied_get_web_acl_is_an_error_for_the_protected_resources(aws: None, hooked: Any) -> None:
    world = _world()
    factory = hooked(deny=("GetWebACL",), fake=FAKE)
    result = run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=factory)
    assert result.finding(ASSOCIATED, world["web"]).status is Status.PASS
    assert result.finding(RATE_RULE, world["web"]).status is Status.ERROR
    assert result.finding(RATE_RULE, world["bare"]).status is Status.FAIL  # no ACL at all
    assert "wafv2:GetWebACL" in result.finding(RATE_RULE, world["web"]).message


def test_denied_load_balancers_leave_stages_and_record_the_region(aws: None, hooked: Any) -> None:
    world = _world()
    factory = hooked(deny=("DescribeLoadBalancers",), fake=FAKE)
    result = run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=factory)
    statuses = result.statuses(ASSOCIATED)
    assert statuses[world["stage"]] is Status.PASS
    assert statuses["*"] is Status.ERROR and world["web"] not in statuses


def test_nothing_listable_fails_the_run(aws: None, hooked: Any) -> None:
    _world()
    factory = hooked(deny=("DescribeLoadBalancers", "GetRestApis"), fake=FAKE)
    with pytest.raises(CollectorError) as raised:
        run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=factory)
    assert raised.value.permanent and "AccessDenied" in str(raised.value)


def test_nothing_listable_for_a_transient_reason_is_retried(aws: None, hooked: Any) -> None:
    _world()
    factory = hooked(deny=("DescribeLoadBalancers", "GetRestApis"), code="ServiceUnavailable")
    with pytest.raises(CollectorError) as raised:
        run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=factory)
    assert not raised.value.permanent


def _group(name: str, action: str) -> str:
    """A rule group holding one rate-based rule ``per-ip`` with ``action``; its ARN."""
    return boto3.client("wafv2", region_name="us-east-1").create_rule_group(
        Name=name, Scope="REGIONAL", Capacity=10, Rules=[_rate_rule("per-ip", action)],
        VisibilityConfig=VISIBILITY,
    )["Summary"]["ARN"]  # fmt: skip


def _reference(arn: str, *, count_all: bool = False, **statement: Any) -> dict[str, Any]:
    return {
        "Name": "shared-limits",
        "Priority": 2,
        "Statement": {"RuleGroupReferenceStatement": {"ARN": arn, **statement}},
        "OverrideAction": {"Count": {}} if count_all else {"None": {}},
        "VisibilityConfig": VISIBILITY,
    }


def test_rate_based_rules_inside_referenced_rule_groups(aws: None, hooked: Any) -> None:
    albs = _albs()
    group = _group("limits", "Block")
    plain = _acl("via-group", [_reference(group)])
    counted = _acl("group-counted", [_reference(group, count_all=True)])
    to_count = [{"Name": "per-ip", "ActionToUse": {"Count": {}}}]
    overridden = _acl("rule-overridden", [_reference(group, RuleActionOverrides=to_count)])
    for acl, lb in ((plain, "web"), (counted, "api"), (overridden, "bare")):
        _associate(acl, albs[lb])
    result = run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=hooked(fake=FAKE))
    assert result.statuses(RATE_RULE) == {
        albs["web"]: Status.PASS,  # the group's rule blocks
        albs["api"]: Status.FAIL,  # the reference counts the whole group
        albs["bare"]: Status.FAIL,  # the reference overrides that rule to Count
    }
    rows = {row["resource"]: row for row in result.rows}
    assert rows[albs["web"]]["rate_based_rules"] == [
        {"name": "limits/per-ip", "limit": 2000, "aggregate_key_type": "IP", "action": "Block"}
    ]
    assert "limits/per-ip (Count)" in result.finding(RATE_RULE, albs["api"]).message
    assert "wafv2:GetRuleGroup" in result.api_calls


def test_unreadable_rule_group_is_an_error_unless_the_acl_blocks_itself(
    aws: None, hooked: Any
) -> None:
    albs = _albs()
    group = _group("limits", "Block")
    only_group = _acl("only-group", [_reference(group)])
    both = _acl("both", [_rate_rule("own", "Block"), _reference(group)])
    _associate(only_group, albs["web"])
    _associate(both, albs["api"])
    factory = hooked(deny=("GetRuleGroup",), fake=FAKE)
    result = run_collector(WafWebAclsCollector, PARAMS, aws_session_factory=factory)
    finding = result.finding(RATE_RULE, albs["web"])
    assert finding.status is Status.ERROR and "wafv2:GetRuleGroup" in finding.message
    assert result.finding(RATE_RULE, albs["api"]).status is Status.PASS
