"""aws_apigateway_stages: stage, per-method and account throttling; denied calls are ERROR."""

from __future__ import annotations

from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_apigateway_stages import AUTHORIZED, THROTTLING, ApigatewayStagesCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["us-east-1"]}
ACCOUNT = "123456789012"


def _api(name: str, *stages: tuple[str, dict[str, str]], **method: Any) -> str:
    """A REST API with one GET method (``method``: put_method arguments, default open),
    deployed to ``stages`` ({patch path: value} each)."""
    client = boto3.client("apigateway", region_name="us-east-1")
    api = client.create_rest_api(name=name)["id"]
    root = client.get_resources(restApiId=api)["items"][0]["id"]
    method = method or {"authorizationType": "NONE"}
    client.put_method(restApiId=api, resourceId=root, httpMethod="GET", **method)
    client.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    for stage, settings in stages:
        client.create_deployment(restApiId=api, stageName=stage)
        if settings:
            operations = [{"op": "replace", "path": p, "value": v} for p, v in settings.items()]
            client.update_stage(restApiId=api, stageName=stage, patchOperations=operations)
    return api


def _resource(api: str, stage: str) -> str:
    return f"arn:aws:apigateway:us-east-1:{ACCOUNT}:/restapis/{api}/stages/{stage}"


STAGE_LIMITS = {"/*/*/throttling/rateLimit": "500", "/*/*/throttling/burstLimit": "1000"}


def test_stage_method_and_account_throttling(aws: None) -> None:
    photos = _api(
        "photos",
        ("prod", STAGE_LIMITS),
        ("open", {}),  # relies on the account default (10000/s burst 5000)
        ("hot", {**STAGE_LIMITS, "/~1/GET/throttling/rateLimit": "5000"}),
    )
    result = run_collector(ApigatewayStagesCollector, PARAMS)
    assert result.statuses(THROTTLING) == {
        _resource(photos, "prod"): Status.PASS,
        _resource(photos, "open"): Status.FAIL,
        _resource(photos, "hot"): Status.FAIL,
    }
    rows = {row["stage_name"]: row for row in result.rows}
    assert rows["prod"]["stage_rate_limit"] == 500.0 and rows["prod"]["stage_burst_limit"] == 1000
    assert rows["open"]["account_rate_limit"] == 10000.0
    assert rows["prod"]["arn"] == f"arn:aws:apigateway:us-east-1::/restapis/{photos}/stages/prod"
    assert "/GET: 5000/s" in result.finding(THROTTLING, _resource(photos, "hot")).message
    assert "account" in result.finding(THROTTLING, _resource(photos, "open")).message
    assert "apigateway:GetStages" in result.api_calls


def test_max_rate_threshold(aws: None) -> None:
    api = _api("photos", ("prod", STAGE_LIMITS))
    result = run_collector(
        ApigatewayStagesCollector, PARAMS, thresholds={THROTTLING: {"max_rate_limit": 100}}
    )
    assert result.finding(THROTTLING, _resource(api, "prod")).status is Status.FAIL


def test_rest_apis_are_paginated(aws: None, hooked: Any) -> None:
    apis = [_api(f"api{i}", ("prod", STAGE_LIMITS)) for i in range(3)]

    pages: list[Any] = []

    def page(request: dict[str, Any]) -> dict[str, Any]:
        """moto answers in one page: serve its APIs one per page, as AWS does with limit=1."""
        position = (request.get("query_string") or {}).get("position")
        pages.append(position)
        client = boto3.client("apigateway", region_name="us-east-1")
        items = sorted(client.get_rest_apis()["items"], key=lambda a: a["id"])
        index = int(position or 0)
        answer: dict[str, Any] = {"items": items[index : index + 1]}
        if index + 1 < len(items):
            answer["position"] = str(index + 1)
        return answer

    factory = hooked(fake={"GetRestApis": page})
    result = run_collector(ApigatewayStagesCollector, PARAMS, aws_session_factory=factory)
    assert pages == [None, "1", "2"]
    assert set(result.statuses(THROTTLING)) == {_resource(api, "prod") for api in apis}


def test_denied_account_throttle_is_an_error_only_where_it_matters(aws: None, hooked: Any) -> None:
    api = _api("photos", ("prod", STAGE_LIMITS), ("open", {}))
    factory = hooked(deny=("GetAccount",))
    result = run_collector(ApigatewayStagesCollector, PARAMS, aws_session_factory=factory)
    assert result.statuses(THROTTLING) == {
        _resource(api, "prod"): Status.PASS,
        _resource(api, "open"): Status.ERROR,
    }
    assert "apigateway:GET" in result.finding(THROTTLING, _resource(api, "open")).message


def test_denied_stages_are_an_error_on_their_api(aws: None, hooked: Any) -> None:
    api = _api("photos", ("prod", STAGE_LIMITS))
    factory = hooked(deny=("GetStages",))
    result = run_collector(ApigatewayStagesCollector, PARAMS, aws_session_factory=factory)
    resource = f"arn:aws:apigateway:us-east-1:{ACCOUNT}:/restapis/{api}"
    assert result.rows == []
    assert result.statuses(THROTTLING) == {resource: Status.ERROR}
    assert "AccessDenied on apigateway:GET" in result.finding(THROTTLING, resource).message


def _secure(api: str, path: str, **method: Any) -> None:
    """Add ``/path`` with a GET method (``method``: authorizationType, apiKeyRequired, ...)."""
    client = boto3.client("apigateway", region_name="us-east-1")
    root = client.get_resources(restApiId=api)["items"][0]["id"]
    resource = client.create_resource(restApiId=api, parentId=root, pathPart=path)["id"]
    client.put_method(restApiId=api, resourceId=resource, httpMethod="GET", **method)
    client.put_method(restApiId=api, resourceId=resource, httpMethod="OPTIONS",
                      authorizationType="NONE")  # fmt: skip


def test_methods_without_authorization_fail_and_public_paths_are_allowed(aws: None) -> None:
    open_api = _api("photos", ("prod", STAGE_LIMITS))  # GET / with authorizationType NONE
    _secure(open_api, "upload", authorizationType="AWS_IAM")
    _secure(open_api, "health", authorizationType="NONE")
    keyed = _api("partners", ("prod", STAGE_LIMITS), authorizationType="NONE", apiKeyRequired=True)
    result = run_collector(ApigatewayStagesCollector, PARAMS)
    assert result.statuses(AUTHORIZED) == {
        _resource(open_api, "prod"): Status.FAIL,
        _resource(keyed, "prod"): Status.PASS,  # an API key is required
    }
    rows = {row["rest_api_name"]: row for row in result.rows}
    assert rows["photos"]["open_methods"] == ["/ GET", "/health GET"]  # OPTIONS never counted
    assert rows["photos"]["authorization_types"] == ["AWS_IAM", "NONE"]
    message = result.finding(AUTHORIZED, _resource(open_api, "prod")).message
    assert "/health GET" in message and "/upload" not in message
    public = {AUTHORIZED: {"public_paths": ["/", "/health"]}}
    allowed = run_collector(ApigatewayStagesCollector, PARAMS, thresholds=public)
    assert allowed.finding(AUTHORIZED, _resource(open_api, "prod")).status is Status.PASS


def test_denied_resources_are_an_error_for_authorization_only(aws: None, hooked: Any) -> None:
    api = _api("photos", ("prod", STAGE_LIMITS))
    factory = hooked(deny=("GetResources",))
    result = run_collector(ApigatewayStagesCollector, PARAMS, aws_session_factory=factory)
    assert result.finding(AUTHORIZED, _resource(api, "prod")).status is Status.ERROR
    assert result.finding(THROTTLING, _resource(api, "prod")).status is Status.PASS
