"""Application, Network and Gateway Load Balancer listeners and their TLS policies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import ENCRYPTION_IN_TRANSIT

TLS_POLICY = "aws_elbv2_listeners.tls_policy"
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_ENCRYPTED = frozenset({"HTTPS", "TLS"})


@register
class Elbv2ListenersCollector(Collector):
    """Every listener of every ALB/NLB/GWLB in the selected regions, with its TLS protocols.

    Collected per region: ``elasticloadbalancing:DescribeLoadBalancers`` (paginated), then
    ``DescribeListeners`` (paginated) per load balancer, and one ``DescribeSSLPolicies`` for
    the security policies the region's HTTPS/TLS listeners use, so each row carries the
    protocols its policy allows.

    Example row: ``arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/
    50dc6c495c0c9188/f2f7dc8efc522ab2``, HTTPS on 443, policy
    ``ELBSecurityPolicy-TLS13-1-2-2021-06`` allowing ``["TLSv1.2", "TLSv1.3"]``.
    """

    key = "aws_elbv2_listeners"
    title = "AWS load balancer (ELBv2) listeners"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeSSLPolicies",
    )
    columns = (
        Column("arn", "string", "Listener ARN."),
        Column("load_balancer_arn", "string", "Load balancer ARN."),
        Column("load_balancer_name", "string", "Load balancer name."),
        Column("load_balancer_type", "string", "application, network or gateway."),
        Column("scheme", "string", "internet-facing or internal."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the load balancer."),
        Column("protocol", "string", "HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP or GENEVE."),
        Column("port", "integer", "Listener port."),
        Column("ssl_policy", "string", "Security policy of an HTTPS/TLS listener."),
        Column("ssl_protocols", "json", "Sorted protocols the security policy allows."),
        Column("default_actions", "json", "Default actions (forward, redirect, ...)."),
        Column("certificates", "json", "Sorted ARNs of the default certificates."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per listener, sorted by ARN."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[tuple[Any, str, dict[str, Any]]]:
            balancers = aws.paginate(client, "describe_load_balancers", "LoadBalancers")
            return [(client, region, lb) for lb in balancers]

        balancers = aws.collect_regional(ctx, "elbv2", lister, assertions=(TLS_POLICY,))

        def listeners(item: tuple[Any, str, dict[str, Any]]) -> list[dict[str, Any]]:
            client, region, lb = item
            try:
                found = aws.paginate(
                    client, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]
                )
            except aws.botocore_errors() as exc:
                action = "elasticloadbalancing:DescribeListeners"
                ctx.error(
                    f"{aws.error_code(exc)} on {action} for {lb['LoadBalancerArn']}: its "
                    "listeners were not collected",
                    action=action,
                    resource=lb["LoadBalancerArn"],  # named, not a "*": it is not absent
                    assertions=(TLS_POLICY,),
                )
                return []
            return [_row(listener, lb, account, region) for listener in found]

        rows = [row for group in aws.pmap(ctx, listeners, balancers, api="elbv2") for row in group]
        self._add_protocols(ctx, rows)
        return sorted(rows, key=lambda row: row["arn"])

    @staticmethod
    def _add_protocols(ctx: CollectionContext, rows: list[dict[str, Any]]) -> None:
        """Fill ``ssl_protocols`` with one DescribeSSLPolicies call per region."""
        by_region: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row["ssl_policy"] and row["protocol"] in _ENCRYPTED:
                by_region.setdefault(row["region"], []).append(row)

        def fetch(region: str) -> None:
            client = ctx.aws_client("elbv2", region)
            names = sorted({row["ssl_policy"] for row in by_region[region]})
            try:
                policies = aws.paginate(client, "describe_ssl_policies", "SslPolicies", Names=names)
            except aws.botocore_errors() as exc:
                action = "elasticloadbalancing:DescribeSSLPolicies"
                for row in by_region[region]:
                    ctx.error(
                        f"{aws.error_code(exc)} on {action} for {row['arn']}",
                        action=action,
                        resource=row["arn"],
                        assertions=(TLS_POLICY,),
                    )
                return
            protocols = {p["Name"]: sorted(p.get("SslProtocols") or []) for p in policies}
            for row in by_region[region]:
                row["ssl_protocols"] = protocols.get(row["ssl_policy"])

        aws.pmap(ctx, fetch, sorted(by_region))

    @assertion(
        TLS_POLICY,
        title="Load balancer listeners accept only TLS at or above the minimum version",
        severity=Severity.HIGH,
        remediation="Give HTTPS/TLS listeners a policy without older protocols, e.g. "
        "`aws elbv2 modify-listener --listener-arn ARN --ssl-policy "
        "ELBSecurityPolicy-TLS13-1-2-2021-06`; make HTTP listeners redirect to HTTPS "
        "(default action redirect, Protocol HTTPS, StatusCode HTTP_301).",
        params=(
            Param(
                "min_tls_version",
                "string",
                default="TLSv1.2",
                choices=TLS_VERSIONS,
                help="Oldest protocol a listener's security policy may allow.",
            ),
        ),
        **ENCRYPTION_IN_TRANSIT,
    )
    def tls_policy(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """HTTPS/TLS listeners: every allowed protocol >= ``min_tls_version``.

        HTTP listeners pass only if their default action redirects to HTTPS. TCP, UDP and
        GENEVE listeners pass traffic through unchanged and are not evaluated.
        """
        where = f"{row['load_balancer_name']}:{row['port']} ({row['protocol']})"
        if row["protocol"] == "HTTP":
            actions = row["default_actions"] or []
            if actions and all(_redirects_to_https(a) for a in actions):
                return Outcome(Status.PASS, f"Listener {where} redirects to HTTPS.")
            return Outcome(Status.FAIL, f"Listener {where} serves plain HTTP.")
        if row["protocol"] not in _ENCRYPTED:
            return None
        protocols = row["ssl_protocols"]
        if not protocols:
            return Outcome(Status.WARN, f"Protocols of policy {row['ssl_policy']} are unknown.")
        minimum = TLS_VERSIONS.index(params["min_tls_version"])
        weak = [p for p in protocols if p in TLS_VERSIONS and TLS_VERSIONS.index(p) < minimum]
        if weak:
            return Outcome(
                Status.FAIL,
                f"Listener {where} policy {row['ssl_policy']} allows {', '.join(weak)}.",
            )
        return Outcome(
            Status.PASS,
            f"Listener {where} policy {row['ssl_policy']} allows {', '.join(protocols)} only.",
        )


def _redirects_to_https(action: dict[str, Any]) -> bool:
    config = action.get("RedirectConfig") or {}
    return action.get("Type") == "redirect" and config.get("Protocol") == "HTTPS"


def _row(listener: dict[str, Any], lb: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    encrypted = listener.get("Protocol") in _ENCRYPTED
    return {
        "arn": listener["ListenerArn"],
        "load_balancer_arn": lb["LoadBalancerArn"],
        "load_balancer_name": lb.get("LoadBalancerName"),
        "load_balancer_type": lb.get("Type"),
        "scheme": lb.get("Scheme"),
        "account_id": account,
        "region": region,
        "protocol": listener.get("Protocol"),
        "port": listener.get("Port"),
        "ssl_policy": listener.get("SslPolicy") if encrypted else None,
        "ssl_protocols": None,
        "default_actions": listener.get("DefaultActions") or [],
        "certificates": sorted(
            c["CertificateArn"] for c in listener.get("Certificates") or [] if "CertificateArn" in c
        ),
    }
