"""``okta_users`` against recorded, scrubbed Okta responses served on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, Status
from collectors._http import HTTPSession
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.lint import lint_collector
from collectors.okta.okta_users import OktaUsersCollector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "okta_users"
TOKEN = "00scrubbedOktaApiToken0123456789abcdefgh"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
CLOCK = NOW.timestamp()


def _run(base_url: str, **kw: object):  # type: ignore[no-untyped-def]
    return run_collector(OktaUsersCollector, {"base_url": base_url, "token": TOKEN}, now=NOW, **kw)


def test_collector_is_conformant() -> None:
    assert lint_collector(OktaUsersCollector) == []
    names = tuple(c.name for c in OktaUsersCollector.columns)
    assert names[: len(IDENTITY_COLUMN_NAMES)] == IDENTITY_COLUMN_NAMES


def _by_login(result, assertion_id: str) -> dict:
    """Statuses of an assertion keyed by login (findings name users by their Okta id)."""
    login = {r["account_id"]: r["display_name"] for r in result.rows}
    return {login[resource]: status for resource, status in result.statuses(assertion_id).items()}


def test_users_factors_roles_and_rate_limits() -> None:
    waits: list[float] = []
    session = HTTPSession(sleep=waits.append, clock=lambda: CLOCK, allow_http_loopback=True)
    with serve_fixtures(FIXTURES) as server:
        result = _run(server.base_url, http_session=session)
    # Page 1 left no budget: wait for its reset (45 s); the 429 waits for its reset (70 s).
    assert waits == [45.0, 70.0]
    assert server.hits("GET /api/v1/users/00u3carol0000000003/factors") == 2
    assert all(r["headers"]["Authorization"] == f"SSWS {TOKEN}" for r in server.requests)
    assert result.identity == "okta:audit-bot@acme.example"
    by_login = {r["display_name"]: r for r in result.rows}
    assert list(by_login) == [
        "alice@acme.example",
        "bob@acme.example",
        "carol@acme.example",
        "dave@acme.example",
        "erin@acme.example",
        "frank@acme.example",
    ]
    alice = by_login["alice@acme.example"]
    assert {k: alice[k] for k in IDENTITY_COLUMN_NAMES} == {
        "account_id": "00u1alice0000000001",
        "display_name": "alice@acme.example",
        "email": "alice@acme.example",
        "privileges": ["SUPER_ADMIN"],
        "is_privileged": True,
        "mfa_enabled": True,
        "last_activity_at": "2024-05-30T08:12:00.000000Z",
        "status": "active",
        "source": f"okta:{server.base_url.split('//')[1].split(':')[0]}",
    }
    assert by_login["bob@acme.example"]["idle_days"] == 142
    assert by_login["carol@acme.example"]["idle_days"] == 212  # since activation
    assert by_login["erin@acme.example"]["factors"] is None
    assert _by_login(result, "okta_users.mfa_enrolled") == {
        "alice@acme.example": Status.PASS,
        "bob@acme.example": Status.FAIL,  # e-mail only; SMS still pending
        "carol@acme.example": Status.PASS,
        "erin@acme.example": Status.ERROR,  # factors not readable
    }
    erin_id = by_login["erin@acme.example"]["account_id"]
    erin = result.finding("okta_users.mfa_enrolled", erin_id)
    assert "You do not have permission" in erin.message
    assert _by_login(result, "okta_users.inactive_accounts") == {
        "alice@acme.example": Status.PASS,
        "bob@acme.example": Status.FAIL,
        "carol@acme.example": Status.FAIL,
        "erin@acme.example": Status.PASS,
    }
    assert (
        "never signed in"
        in result.finding(
            "okta_users.inactive_accounts", by_login["carol@acme.example"]["account_id"]
        ).message
    )


def test_thresholds_are_tunable() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = _run(
            server.base_url,
            sleep=lambda _: None,
            thresholds={
                "okta_users.inactive_accounts": {"max_days": 365},
                "okta_users.mfa_enrolled": {"ignored_factor_types": ["password", "question"]},
            },
        )
    assert _by_login(result, "okta_users.inactive_accounts")["bob@acme.example"] is Status.PASS
    assert _by_login(result, "okta_users.mfa_enrolled")["bob@acme.example"] is Status.PASS


def test_findings_name_users_by_okta_id_not_by_login() -> None:
    # Issue 12.2: findings were keyed by login (display name), which Okta lets an admin
    # rename or give to someone else; the user id is the stable, unique key.
    with serve_fixtures(FIXTURES) as server:
        result = _run(server.base_url, sleep=lambda _: None)
    ids = {r["account_id"] for r in result.rows}
    assert "00u1alice0000000001" in ids
    resources = {f.resource for f in result.findings}
    assert resources and resources <= ids
    alice = result.finding("okta_users.mfa_enrolled", "00u1alice0000000001")
    assert "alice@acme.example" in alice.message  # the login stays readable in messages
    assert {r["display_name"] for r in result.rows} >= {"alice@acme.example"}


def test_rate_limit_reset_beyond_budget_is_transient() -> None:
    routes = {
        "GET /api/v1/users/me": {
            "headers": {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "4102444800"},
            "body_file": "me.json",
        }
    }
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="beyond the time budget") as info:
            _run(server.base_url, time_budget=30)
    assert not info.value.permanent


def test_invalid_token_is_permanent() -> None:
    body = {"errorCode": "E0000011", "errorSummary": "Invalid token provided", "errorCauses": []}
    routes = {"GET /api/v1/users/me": {"status": 401, "body": body}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="HTTP 401") as info:
            _run(server.base_url)
    assert info.value.permanent and TOKEN not in str(info.value)
