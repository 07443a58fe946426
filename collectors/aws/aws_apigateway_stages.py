"""API Gateway REST API stages and their throttling (stage, per method and account level)."""

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
from collectors.aws._controls import AUTHENTICATION, RATE_LIMITING

THROTTLING = "aws_apigateway_stages.throttling_configured"
AUTHORIZED = "aws_apigateway_stages.authorization_required"
ALL_METHODS = "*/*"
#: CORS preflight requests carry no credentials by design: never counted as open methods.
PREFLIGHT = "OPTIONS"


@register
class ApigatewayStagesCollector(Collector):
    """Every REST API stage in the selected regions, with the throttling limits in force.

    Collected per region with ``apigateway:GET``: ``/restapis`` (paginated), the
    ``/stages`` of each API (their ``methodSettings``: ``throttlingRateLimit`` and
    ``throttlingBurstLimit`` on ``*/*`` for the whole stage or on ``/{resource}/{METHOD}``),
    and ``/account`` (the account-level throttle that applies where a stage sets none).
    An unknown account throttle (call denied) is ``null``, and a stage that relies on it is
    ERROR. The API's methods come from ``/resources?embed=methods`` (paginated, once per
    API): each method's ``authorizationType`` (``NONE``, ``AWS_IAM``, ``CUSTOM`` for a
    Lambda authorizer, ``COGNITO_USER_POOLS``) and ``apiKeyRequired``. They are the API's
    current definition, which every stage serves once deployed. HTTP and WebSocket APIs
    (apigatewayv2) and usage plans are not collected.

    Example row: stage ``prod`` of REST API ``photos`` (``a1b2c3``) in eu-west-1, ``*/*``
    limited to 500 requests per second with bursts of 1000; account limit 10000/5000.
    """

    key = "aws_apigateway_stages"
    title = "AWS API Gateway REST API stages and throttling"
    version = 2
    params = aws.AWS_PARAMS
    permissions = (*aws.REGIONAL_PERMISSIONS, "apigateway:GET")
    columns = (
        Column("resource", "string", "The stage ARN with the account filled in."),
        Column("arn", "string", "The stage's own ARN (API Gateway ARNs have no account)."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the API."),
        Column("rest_api_id", "string", "REST API id."),
        Column("rest_api_name", "string", "REST API name."),
        Column("stage_name", "string", "Stage name."),
        Column("stage_rate_limit", "float", "throttlingRateLimit on */* (requests/second)."),
        Column("stage_burst_limit", "integer", "throttlingBurstLimit on */*."),
        Column(
            "method_throttling",
            "json",
            'Per-method overrides: {"/path/METHOD": {"rate": r, "burst": b}}, sorted.',
        ),
        Column("account_rate_limit", "float", "Account-level rate limit (null: not read)."),
        Column("account_burst_limit", "integer", "Account-level burst limit (null: not read)."),
        Column(
            "authorization_types",
            "json",
            "Authorization types of the API's methods, sorted (null: methods not read).",
        ),
        Column(
            "open_methods",
            "json",
            'Methods callable without credentials: ["/path GET", ...] (OPTIONS excluded; '
            "null: methods not read).",
        ),
    )
    resource_column = "resource"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per REST API stage, sorted by resource."""
        account, _ = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[tuple[Any, str, dict[str, Any]]]:
            return [(client, region, api) for api in aws.paginate(client, "get_rest_apis", "items")]

        apis = aws.collect_regional(ctx, "apigateway", lister, assertions=(THROTTLING, AUTHORIZED))

        def stages(item: tuple[Any, str, dict[str, Any]]) -> list[dict[str, Any]]:
            client, region, api = item
            found = aws.call(
                ctx,
                client,
                "get_stages",
                resource=f"arn:aws:apigateway:{region}:{account}:/restapis/{api['id']}",
                assertions=(THROTTLING, AUTHORIZED),
                restApiId=api["id"],
            )
            if found is None:
                return []
            rows = [_row(stage, api, account, region) for stage in found.get("item") or []]
            methods = _methods(ctx, client, api, rows)
            for row in rows:
                row.update(methods)
            return rows

        rows = [row for group in aws.pmap(ctx, stages, apis, api="apigateway") for row in group]
        aws.pmap(ctx, lambda region: _account_throttle(ctx, region, rows), _regions_of(rows))
        return sorted(rows, key=lambda row: row["resource"])

    @assertion(
        THROTTLING,
        title="API stages are throttled within the maximum rate",
        severity=Severity.MEDIUM,
        remediation="Set stage throttling: `aws apigateway update-stage --rest-api-id ID "
        "--stage-name STAGE --patch-operations op=replace,path=/*/*/throttling/rateLimit,"
        "value=500 op=replace,path=/*/*/throttling/burstLimit,value=1000`, and lower any "
        "per-method override above the maximum.",
        params=(
            Param(
                "max_rate_limit",
                "float",
                default=1000.0,
                help="Highest steady-state rate (requests/second) a stage or method may allow.",
            ),
            Param(
                "max_burst_limit",
                "integer",
                default=2000,
                help="Highest burst a stage or method may allow.",
            ),
        ),
        **RATE_LIMITING,
    )
    def throttling_configured(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """The stage limit (``*/*``, else the account's) and every per-method override must
        be at most ``max_rate_limit``/``max_burst_limit``; a negative limit is unlimited."""
        where = f"{row['rest_api_name']}/{row['stage_name']}"
        rate = row["stage_rate_limit"]
        burst = row["stage_burst_limit"]
        source = "stage"
        if rate is None or burst is None:
            if row["account_rate_limit"] is None or row["account_burst_limit"] is None:
                return Outcome(
                    Status.ERROR,
                    f"{where} sets no stage throttling and the account throttle was not read.",
                )
            rate = row["account_rate_limit"] if rate is None else rate
            burst = row["account_burst_limit"] if burst is None else burst
            source = "account"
        limits = {f"{ALL_METHODS} ({source})": (rate, burst)}
        for method, values in (row["method_throttling"] or {}).items():
            limits[method] = (
                rate if values.get("rate") is None else values["rate"],
                burst if values.get("burst") is None else values["burst"],
            )
        too_high = [
            f"{name}: {r:g}/s burst {b}"
            for name, (r, b) in limits.items()
            if r < 0 or b < 0 or r > params["max_rate_limit"] or b > params["max_burst_limit"]
        ]
        if too_high:
            return Outcome(
                Status.FAIL,
                f"{where} allows more than {params['max_rate_limit']:g}/s burst "
                f"{params['max_burst_limit']}: {'; '.join(too_high)}.",
            )
        return Outcome(
            Status.PASS, f"{where} is throttled at {rate:g}/s burst {burst} ({source} limit)."
        )

    @assertion(
        AUTHORIZED,
        title="API methods require authorization",
        severity=Severity.HIGH,
        remediation="Give every method an authorizer (IAM, Cognito user pool or a Lambda "
        "authorizer) or require an API key, then deploy the stage: `aws apigateway "
        "update-method --rest-api-id ID --resource-id RES --http-method GET --patch-operations "
        "op=replace,path=/authorizationType,value=AWS_IAM`.",
        params=(
            Param(
                "public_paths",
                "list",
                default=[],
                help="Paths meant to be public (e.g. /health): their methods may be open.",
            ),
        ),
        **AUTHENTICATION,
    )
    def authorization_required(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """FAIL when a method outside ``public_paths`` has no authorizer and no API key;
        OPTIONS (CORS preflight) is never counted."""
        where = f"{row['rest_api_name']}/{row['stage_name']}"
        if row["open_methods"] is None:
            return Outcome(Status.ERROR, f"The methods of {where} were not read.")
        public = {str(path).rstrip("/") or "/" for path in params["public_paths"]}
        open_methods = [m for m in row["open_methods"] if m.rsplit(" ", 1)[0] not in public]
        if open_methods:
            return Outcome(Status.FAIL, f"{where} serves {len(open_methods)} method(s) without "
                           f"authorization or API key: {', '.join(open_methods)}.")  # fmt: skip
        kinds = ", ".join(row["authorization_types"]) or "no methods"
        return Outcome(Status.PASS, f"{where}: every method requires authorization ({kinds}).")


def _methods(
    ctx: CollectionContext, client: Any, api: dict[str, Any], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The authorization columns of an API's stages (``null`` when the methods were not read)."""
    try:
        resources = aws.paginate(
            client, "get_resources", "items", restApiId=api["id"], embed=["methods"]
        )
    except aws.botocore_errors() as exc:
        for row in rows:
            ctx.error(
                f"{aws.error_code(exc)} on apigateway:GET for /restapis/{api['id']}/resources: "
                f"the methods of {api.get('name')} were not read",
                action="apigateway:GET",
                resource=row["resource"],
                assertions=(AUTHORIZED,),
            )
        return {"authorization_types": None, "open_methods": None}
    kinds, open_methods = set(), []
    for resource in resources:
        for verb, method in sorted((resource.get("resourceMethods") or {}).items()):
            if verb == PREFLIGHT:
                continue
            kind = str(method.get("authorizationType") or "NONE")
            kinds.add(kind)
            if kind == "NONE" and not method.get("apiKeyRequired"):
                open_methods.append(f"{resource.get('path') or '/'} {verb}")
    return {"authorization_types": sorted(kinds), "open_methods": sorted(open_methods)}


def _regions_of(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({row["region"] for row in rows})


def _account_throttle(ctx: CollectionContext, region: str, rows: list[dict[str, Any]]) -> None:
    """Fill the account-level throttle of ``region``'s rows (``GET /account``)."""
    client = ctx.aws_client("apigateway", region)
    here = [row for row in rows if row["region"] == region]
    try:
        throttle = client.get_account().get("throttleSettings") or {}
    except aws.botocore_errors() as exc:
        for row in here:
            if row["stage_rate_limit"] is None or row["stage_burst_limit"] is None:
                ctx.error(
                    f"{aws.error_code(exc)} on apigateway:GET for /account in {region}: the "
                    f"account throttle that {row['stage_name']} relies on was not read",
                    action="apigateway:GET",
                    resource=row["resource"],
                    assertions=(THROTTLING,),
                )
        return
    for row in here:
        row["account_rate_limit"] = throttle.get("rateLimit")
        row["account_burst_limit"] = throttle.get("burstLimit")


def _method_key(key: str) -> str:
    """``/pets/GET`` from a methodSettings key (``pets/GET`` or ``~1pets/GET``)."""
    key = key.replace("~1", "/")
    return key if key.startswith("/") else f"/{key}"


def _row(stage: dict[str, Any], api: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    path = f"/restapis/{api['id']}/stages/{stage['stageName']}"
    settings = stage.get("methodSettings") or {}
    stage_wide = settings.get(ALL_METHODS) or {}
    methods = {
        _method_key(key): {
            "rate": value.get("throttlingRateLimit"),
            "burst": value.get("throttlingBurstLimit"),
        }
        for key, value in sorted(settings.items())
        if key != ALL_METHODS
        and (value.get("throttlingRateLimit") is not None
             or value.get("throttlingBurstLimit") is not None)
    }  # fmt: skip
    return {
        "resource": f"arn:aws:apigateway:{region}:{account}:{path}",
        "arn": f"arn:aws:apigateway:{region}::{path}",
        "account_id": account,
        "region": region,
        "rest_api_id": api["id"],
        "rest_api_name": api.get("name"),
        "stage_name": stage["stageName"],
        "stage_rate_limit": stage_wide.get("throttlingRateLimit"),
        "stage_burst_limit": stage_wide.get("throttlingBurstLimit"),
        "method_throttling": methods,
        "account_rate_limit": None,
        "account_burst_limit": None,
        "authorization_types": None,
        "open_methods": None,
    }
