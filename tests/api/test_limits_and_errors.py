"""Rate limits (429 + Retry-After) per token and per address, failed authentication throttled
like sign-in, and RFC 9457 problem bodies."""

from __future__ import annotations

import pytest
from django.test import override_settings

from pixaudit.accounts.models import LoginLockout
from pixaudit.auditlog.models import AuditEvent
from tests.api.helpers import api_client, token_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/frameworks/"


@override_settings(PIXAUDIT_API_RATE_PER_TOKEN="3/minute")
def test_per_token_limit_answers_429_with_retry_after(world):
    client = api_client(token_for(world.engineer, ["read"]))
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(URL)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert refused["Content-Type"] == "application/problem+json"
    assert body["status"] == 429 and body["type"].endswith("/rate-limited")
    # Another token of the same user from the same address has its own budget.
    assert api_client(token_for(world.engineer, ["read"])).get(URL).status_code == 200


@override_settings(PIXAUDIT_API_RATE_PER_IP="4/minute")
def test_per_address_limit_covers_every_token(world):
    first = api_client(token_for(world.engineer, ["read"]))
    second = api_client(token_for(world.manager, ["read"]))
    codes = [c.get(URL).status_code for c in (first, second, first, second, first)]
    assert codes == [200, 200, 200, 200, 429]
    assert second.get(URL, REMOTE_ADDR="127.0.0.2").status_code == 200  # another address


def test_failed_authentication_is_throttled_like_sign_in(world, settings):
    settings.PIXAUDIT_LOGIN_MAX_FAILURES = 3
    bad = api_client("pxa_0000000000_" + "y" * 43)
    codes = [bad.get(URL).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    assert LoginLockout.objects.filter(key="api:127.0.0.1").exists()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 3
    # While locked, even a valid token from that address is refused, with Retry-After.
    locked = api_client(token_for(world.engineer, ["read"])).get(URL)
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 60
    # Another address is not affected.
    ok = api_client(token_for(world.engineer, ["read"])).get(URL, REMOTE_ADDR="127.0.0.3")
    assert ok.status_code == 200


def test_malformed_headers_are_problems(world):
    for header in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearer nottoken"):
        response = api_client(None).get(URL, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) >= {"type", "title", "status", "detail", "instance"}
    missing = api_client(None).get(URL)
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]


def test_validation_errors_name_each_field(world):
    client = api_client(token_for(world.engineer, ["read"]))
    response = client.get("/api/v1/findings/?since=yesterday&status=great&evidence=-1")
    assert response.status_code == 400
    body = response.json()
    assert body["type"].endswith("/invalid-request") and body["instance"] == "/api/v1/findings/"
    assert {e["field"] for e in body["errors"]} == {"since", "status", "evidence"}
    response = client.get("/api/v1/findings/?status=great")
    assert response.json()["errors"] == [
        {"field": "status", "detail": "One of: pass, fail, warn, error."}
    ]
    missing = client.get("/api/v1/evidence/999999/")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"


def test_an_unrouted_api_path_answers_with_problem_details(world):
    response = api_client(token_for(world.engineer, ["read"])).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["type"].endswith("/not-found")
    assert body["instance"] == "/api/v1/no-such-thing/"
    # Outside the API the branded HTML page stays.
    page = api_client(token_for(world.engineer, ["read"])).get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_ids_beyond_a_database_key_are_a_400_not_a_server_error(world):
    """Found by the schema fuzz on SQLite (whose integers stop at 2**63 - 1)."""
    client = api_client(token_for(world.manager, ["write:evidence"]))
    too_big = 2**63
    decisions = client.post(
        f"/api/v1/reviews/{world.campaign.pk}/decisions/",
        {"decisions": [{"entry": too_big, "decision": "keep"}]},
        content_type="application/json",
    )
    assert decisions.status_code == 400
    assert decisions.json()["errors"][0]["field"] == "decisions.0.entry"
    answer = client.post(
        f"/api/v1/engagements/{world.engagement.pk}/requests/{world.request.pk}/answer/",
        {"note": "x", "evidence": [too_big]},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "evidence.0"
