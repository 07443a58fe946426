"""aws_elbv2_listeners: TLS policy minimum, HTTP redirects, pass-through listeners."""

from __future__ import annotations

from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_elbv2_listeners import Elbv2ListenersCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["us-east-1"]}
FIXED = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
REDIRECT = {
    "Type": "redirect",
    "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
}


def _listeners() -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    cert = boto3.client("acm", region_name="us-east-1").request_certificate(
        DomainName="example.com"
    )["CertificateArn"]
    elb = boto3.client("elbv2", region_name="us-east-1")
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
    arns = {}

    def listener(label: str, **kwargs: Any) -> None:
        created = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], **kwargs)
        arns[label] = created["Listeners"][0]["ListenerArn"]

    tls = {"Protocol": "HTTPS", "Certificates": [{"CertificateArn": cert}]}
    listener("modern", Port=443, SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
             DefaultActions=[FIXED], **tls)  # fmt: skip
    listener("legacy", Port=8443, SslPolicy="ELBSecurityPolicy-2016-08",
             DefaultActions=[FIXED], **tls)  # fmt: skip
    listener("redirect", Protocol="HTTP", Port=80, DefaultActions=[REDIRECT])
    listener("plain", Protocol="HTTP", Port=8080, DefaultActions=[FIXED])
    return arns


def test_tls_policies_and_http_redirects(aws: None) -> None:
    arns = _listeners()
    result = run_collector(Elbv2ListenersCollector, PARAMS)
    assert result.statuses("aws_elbv2_listeners.tls_policy") == {
        arns["modern"]: Status.PASS,
        arns["legacy"]: Status.FAIL,
        arns["redirect"]: Status.PASS,
        arns["plain"]: Status.FAIL,
    }
    rows = {r["arn"]: r for r in result.rows}
    assert rows[arns["modern"]]["ssl_protocols"] == ["TLSv1.2", "TLSv1.3"]
    legacy = result.finding("aws_elbv2_listeners.tls_policy", arns["legacy"]).message
    assert "TLSv1, TLSv1.1" in legacy


def test_min_tls_version_threshold(aws: None) -> None:
    arns = _listeners()
    result = run_collector(
        Elbv2ListenersCollector,
        PARAMS,
        thresholds={"aws_elbv2_listeners.tls_policy": {"min_tls_version": "TLSv1.3"}},
    )
    assert result.finding("aws_elbv2_listeners.tls_policy", arns["modern"]).status is Status.FAIL


def test_denied_ssl_policies_errors_each_tls_listener(aws: None, hooked: Any) -> None:
    arns = _listeners()
    result = run_collector(
        Elbv2ListenersCollector, PARAMS, aws_session_factory=hooked(deny=("DescribeSSLPolicies",))
    )
    statuses = result.statuses("aws_elbv2_listeners.tls_policy")
    assert statuses[arns["modern"]] is Status.ERROR and statuses[arns["legacy"]] is Status.ERROR
    assert statuses[arns["redirect"]] is Status.PASS
    message = result.finding("aws_elbv2_listeners.tls_policy", arns["modern"]).message
    assert "elasticloadbalancing:DescribeSSLPolicies" in message


def test_unreadable_listeners_are_an_error_on_their_load_balancer(aws: None, hooked: Any) -> None:
    """Issue 13.8: listeners that could not be listed leave their load balancer as ERROR."""
    _listeners()
    lb = boto3.client("elbv2", region_name="us-east-1").describe_load_balancers()
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    factory = hooked(deny=("DescribeListeners",))
    result = run_collector(Elbv2ListenersCollector, PARAMS, aws_session_factory=factory)
    assert result.rows == []
    assert result.statuses("aws_elbv2_listeners.tls_policy") == {lb_arn: Status.ERROR}
    message = result.finding("aws_elbv2_listeners.tls_policy", lb_arn).message
    assert "elasticloadbalancing:DescribeListeners" in message
