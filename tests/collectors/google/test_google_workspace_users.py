"""``google_workspace_users`` against hand-written Admin SDK answers served on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collectors import CollectorError, ParamError, Status
from collectors.google.google_workspace_users import SCOPES, GoogleWorkspaceUsersCollector
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "google_workspace_users"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = "google_workspace_users"
ACCESS_TOKEN = "ya29.scrubbedGoogleAccessToken0123456789"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_json(key: rsa.RSAPrivateKey, token_uri: str) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "acme-audit",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": pem,
            "client_email": "pixaudit@acme-audit.iam.gserviceaccount.com",
            "client_id": "100000000000000000999",
            "token_uri": token_uri,
        }
    )


def _run(server, key, base: str = "", routes=None, **kw):  # type: ignore[no-untyped-def]
    params = {
        "service_account_key": _key_json(key, server.url("/token")),
        "subject": "audit-admin@acme.example",
        "token_uri": server.url("/token"),
        "base_url": server.base_url + base,
    }
    return run_collector(GoogleWorkspaceUsersCollector, params, now=NOW, **kw)


def _by_email(result, assertion_id: str) -> dict[str, Status]:
    email = {r["account_id"]: r["display_name"] for r in result.rows}
    return {email[res]: st for res, st in result.statuses(assertion_id).items()}


def test_collector_is_conformant() -> None:
    assert lint_collector(GoogleWorkspaceUsersCollector) == []
    names = tuple(c.name for c in GoogleWorkspaceUsersCollector.columns)
    assert names[: len(IDENTITY_COLUMN_NAMES)] == IDENTITY_COLUMN_NAMES


def test_jwt_signed_locally_pages_rate_limits_and_verdicts(rsa_key) -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = _run(server, rsa_key, sleep=waits.append)
    # The token request carries a JWT signed with the service account's key.
    token_request = next(r for r in server.requests if r["path"] == "/token")
    form = parse_qs(token_request["body"].decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    public = rsa_key.public_key()
    claims = pyjwt.decode(
        form["assertion"][0],
        public,
        algorithms=["RS256"],
        audience=server.url("/token"),
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == "pixaudit@acme-audit.iam.gserviceaccount.com"
    assert claims["sub"] == "audit-admin@acme.example"
    assert claims["scope"].split() == list(SCOPES)
    assert claims["iat"] == int(NOW.timestamp())
    api_requests = [r for r in server.requests if r["path"] != "/token"]
    assert all(r["headers"]["Authorization"] == f"Bearer {ACCESS_TOKEN}" for r in api_requests)
    # 429 Retry-After 7 before page 2; 403 userRateLimitExceeded (1 s backoff) before roles.
    assert sorted(waits) == [1.0, 7.0]
    assert result.identity == (
        "google:pixaudit@acme-audit.iam.gserviceaccount.com as audit-admin@acme.example"
    )
    rows = {r["display_name"]: r for r in result.rows}
    assert list(rows) == [f"{n}@acme.example" for n in ("alice", "bob", "carol", "dave",
                                                         "erin", "frank")]  # fmt: skip
    alice = rows["alice@acme.example"]
    assert {k: alice[k] for k in IDENTITY_COLUMN_NAMES} == {
        "account_id": "google-workspace:user:100000000000000000001",
        "display_name": "alice@acme.example",
        "email": "alice@acme.example",
        "privileges": ["_SEED_ADMIN_ROLE", "super_admin"],
        "is_privileged": True,
        "mfa_enabled": True,
        "last_activity_at": "2024-05-30T08:12:00.000000Z",
        "status": "active",
        "source": "google-workspace:acme.example",
    }
    assert rows["bob@acme.example"]["roles"] == ["_HELP_DESK_ADMIN_ROLE"]
    assert rows["bob@acme.example"]["aliases"] == ["robert@acme.example"]
    assert rows["carol@acme.example"]["last_activity_at"] is None  # 1970 means never
    assert rows["carol@acme.example"]["idle_days"] == 212
    assert rows["dave@acme.example"]["status"] == "suspended"
    assert rows["erin@acme.example"]["mfa_enabled"] is None
    assert _by_email(result, f"{KEY}.two_step_enforced") == {
        "alice@acme.example": Status.PASS,
        "bob@acme.example": Status.FAIL,
        "carol@acme.example": Status.FAIL,
        "erin@acme.example": Status.ERROR,  # not returned: unknown, never a verdict
        "frank@acme.example": Status.PASS,
    }
    assert _by_email(result, f"{KEY}.admins_two_step_enforced") == {
        "alice@acme.example": Status.PASS,
        "bob@acme.example": Status.FAIL,
        "frank@acme.example": Status.PASS,
    }
    assert result.statuses(f"{KEY}.super_admins_within_limit") == {"*": Status.PASS}
    assert _by_email(result, f"{KEY}.inactive_accounts") == {
        "alice@acme.example": Status.PASS,
        "bob@acme.example": Status.FAIL,
        "carol@acme.example": Status.FAIL,
        "erin@acme.example": Status.PASS,
        "frank@acme.example": Status.PASS,
    }
    assert "google:directory.users.list" in result.api_calls


def test_thresholds(rsa_key) -> None:
    with serve_fixtures(FIXTURES) as server:
        result = _run(
            server,
            rsa_key,
            sleep=lambda _s: None,
            thresholds={f"{KEY}.super_admins_within_limit": {"max_super_admins": 1}},
        )
    finding = result.finding(f"{KEY}.super_admins_within_limit", "*")
    assert finding.status is Status.FAIL
    assert "alice@acme.example, frank@acme.example" in finding.message


def test_unreadable_roles_fall_back_to_the_admin_flags(rsa_key, caplog) -> None:
    forbidden = {
        "status": 403,
        "body": {"error": {"code": 403, "message": "Not Authorized to access this resource/api",
                           "errors": [{"reason": "forbidden", "domain": "global"}]}},
    }  # fmt: skip
    routes = {
        "GET /admin/directory/v1/customer/my_customer/roleassignments?maxResults=100": forbidden
    }
    with caplog.at_level(logging.WARNING), serve_fixtures(FIXTURES, routes=routes) as server:
        result = _run(server, rsa_key, sleep=lambda _s: None)
    rows = {r["display_name"]: r for r in result.rows}
    assert rows["bob@acme.example"]["roles"] is None
    assert rows["bob@acme.example"]["privileges"] == ["delegated_admin"]
    assert rows["alice@acme.example"]["privileges"] == ["super_admin"]
    assert "cannot read admin roles" in caplog.text
    assert result.statuses(f"{KEY}.admins_two_step_enforced")


def test_refused_delegation_is_permanent_and_leaks_nothing(rsa_key) -> None:
    routes = {
        "POST /token": {
            "status": 401,
            "body": {"error": "unauthorized_client",
                     "error_description": "Client is unauthorized to retrieve access tokens"},
        }
    }  # fmt: skip
    with serve_fixtures(FIXTURES, routes=routes) as server:
        key_json = _key_json(rsa_key, server.url("/token"))
        with pytest.raises(CollectorError, match="domain-wide delegation") as info:
            _run(server, rsa_key)
    assert info.value.permanent
    private = json.loads(key_json)["private_key"]
    assert private.splitlines()[1] not in str(info.value)
    assert "eyJ" not in str(info.value)  # no JWT


def test_a_key_that_is_not_json_is_refused_without_quoting_it() -> None:
    params = {"service_account_key": "-----BEGIN PRIVATE KEY-----abc", "subject": "a@acme.example"}
    with pytest.raises(CollectorError, match="not valid JSON") as info:
        run_collector(GoogleWorkspaceUsersCollector, params, now=NOW)
    assert "BEGIN PRIVATE KEY" not in str(info.value)


def test_the_token_endpoint_must_be_https(rsa_key) -> None:
    with serve_fixtures(FIXTURES) as server:
        params = {
            "service_account_key": _key_json(rsa_key, server.url("/token")),
            "subject": "audit-admin@acme.example",
            "token_uri": server.url("/token"),
            "base_url": server.base_url,
        }
        with pytest.raises(ParamError, match="token_uri: Secrets are sent only over HTTPS"):
            run_collector(GoogleWorkspaceUsersCollector, params, now=NOW, allow_http_loopback=False)
        assert server.requests == []
