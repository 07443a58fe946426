"""``entra_users`` against hand-written Microsoft Graph answers served on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest

from collectors import CollectorError, Status
from collectors.entra.entra_users import EntraUsersCollector, requires_mfa_everywhere
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.lint import lint_collector
from collectors.testing import load_json, run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "entra_users"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
TENANT = "11111111-2222-4333-8444-555555555555"
SECRET = "scrubbed~ClientSecret.0123456789abcdefABCDEF"
KEY = "entra_users"


def _run(server, **kw):  # type: ignore[no-untyped-def]
    params = {
        "tenant_id": TENANT,
        "client_id": "99999999-0000-4000-8000-00000000c11d",
        "client_secret": SECRET,
        "login_url": server.base_url,
        "graph_url": server.base_url,
    }
    return run_collector(EntraUsersCollector, params, now=NOW, **kw)


def _by_upn(result, assertion_id: str) -> dict[str, Status]:
    upn = {r["account_id"]: r["display_name"].split("@")[0] for r in result.rows}
    return {upn.get(res, res): st for res, st in result.statuses(assertion_id).items()}


def test_collector_is_conformant() -> None:
    assert lint_collector(EntraUsersCollector) == []
    names = tuple(c.name for c in EntraUsersCollector.columns)
    assert names[: len(IDENTITY_COLUMN_NAMES)] == IDENTITY_COLUMN_NAMES


def test_client_credentials_paging_throttling_and_verdicts() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = _run(server, sleep=waits.append)
    token = next(r for r in server.requests if r["method"] == "POST")
    form = parse_qs(token["body"].decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["https://graph.microsoft.com/.default"]
    assert form["client_secret"] == [SECRET]
    graph = [r for r in server.requests if r["method"] == "GET"]
    assert all(r["headers"]["Authorization"].startswith("Bearer eyJ") for r in graph)
    first = unquote(graph[0]["path"])
    assert "signInActivity" in first and "$top=999" in first
    assert waits == [5.0]  # page 2 of the users: 429, Retry-After 5
    assert result.identity == f"entra:app 99999999-0000-4000-8000-00000000c11d@{TENANT}"
    rows = {r["display_name"].split("@")[0]: r for r in result.rows}
    assert len(rows) == 8
    alice = rows["alice"]
    assert {k: alice[k] for k in IDENTITY_COLUMN_NAMES} == {
        "account_id": f"entra:{TENANT}/user:a1a1a1a1-0000-4000-8000-000000000001",
        "display_name": "alice@acme.example",
        "email": "alice@acme.example",
        "privileges": ["Global Administrator"],
        "is_privileged": True,
        "mfa_enabled": True,
        "last_activity_at": "2024-05-30T08:12:00.000000Z",
        "status": "enabled",
        "source": f"entra:{TENANT}",
    }
    assert alice["mfa_policies"] == ["CA001 Require MFA for admins"]
    assert rows["carol"]["last_activity_at"] == "2024-05-31T10:00:00.000000Z"  # non-interactive
    assert rows["bob"]["privileges"] == ["User Administrator"]  # the service principal skipped
    assert rows["pat_partner.example#EXT#"]["user_type"] == "Guest"
    assert _by_upn(result, f"{KEY}.mfa_registered") == {
        "alice": Status.PASS,
        "bob": Status.FAIL,
        "carol": Status.PASS,
        "erin": Status.ERROR,  # absent from the registration report
        "frank": Status.PASS,
    }
    assert _by_upn(result, f"{KEY}.admins_covered_by_mfa_policy") == {
        "alice": Status.PASS,
        "bob": Status.FAIL,  # report-only and MFA-or-compliant-device do not count
        "carol": Status.PASS,  # through the IT group, authentication strength
        "frank": Status.ERROR,  # groups unreadable
    }
    frank = result.finding(f"{KEY}.admins_covered_by_mfa_policy", rows["frank"]["account_id"])
    assert "Insufficient privileges" in frank.message
    assert _by_upn(result, f"{KEY}.guests_reviewed") == {
        "pat_partner.example#EXT#": Status.FAIL,  # pending since January
        "quinn_vendor.example#EXT#": Status.PASS,
    }
    assert _by_upn(result, f"{KEY}.inactive_accounts") == {
        "alice": Status.PASS,
        "bob": Status.FAIL,
        "carol": Status.PASS,
        "erin": Status.PASS,  # created 5 days ago, never signed in
        "frank": Status.PASS,
    }


def test_without_sign_in_activity_the_sign_in_checks_are_errors() -> None:
    denied = {
        "status": 403,
        "body": {"error": {"code": "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                           "message": "Neither tenant is B2C or tenant doesn't have premium "
                           "license"}},
    }  # fmt: skip
    routes = {"GET /v1.0/users": [denied, {"body_file": "users_page1.json"}]}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = _run(server, sleep=lambda _s: None)
    paths = [unquote(r["path"]) for r in server.requests if r["path"].startswith("/v1.0/users?")]
    assert "signInActivity" in paths[0] and "signInActivity" not in paths[1]
    rows = {r["display_name"].split("@")[0]: r for r in result.rows}
    assert rows["bob"]["sign_in_read"] is False and rows["bob"]["last_activity_at"] is None
    statuses = _by_upn(result, f"{KEY}.inactive_accounts")
    assert set(statuses.values()) == {Status.ERROR}
    assert statuses["*"] is Status.ERROR
    assert "premium" in result.finding(f"{KEY}.inactive_accounts", "*").message
    assert _by_upn(result, f"{KEY}.mfa_registered")["bob"] is Status.FAIL  # still judged


def test_unreadable_policies_make_admin_coverage_unknown() -> None:
    routes = {
        "GET /v1.0/identity/conditionalAccess/policies": {
            "status": 403,
            "body": {"error": {"code": "AccessDenied", "message": "Policy.Read.All required"}},
        }
    }
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = _run(server, sleep=lambda _s: None)
    statuses = _by_upn(result, f"{KEY}.admins_covered_by_mfa_policy")
    assert set(statuses.values()) == {Status.ERROR}
    assert "Policy.Read.All" in result.finding(f"{KEY}.admins_covered_by_mfa_policy", "*").message


def test_policy_shape_not_just_existence() -> None:
    policies = load_json(FIXTURES / "policies.json")["value"]
    assert [requires_mfa_everywhere(p) for p in policies] == [True, False, True, False]
    excluded_app = {
        **policies[0],
        "conditions": {
            **policies[0]["conditions"],
            "applications": {
                "includeApplications": ["All"],
                "excludeApplications": ["00000003-0000-0ff1-ce00"],
            },
        },
    }
    assert not requires_mfa_everywhere(excluded_app)  # fmt: skip
    legacy_only = {
        **policies[0],
        "conditions": {**policies[0]["conditions"], "clientAppTypes": ["browser"]},
    }
    assert not requires_mfa_everywhere(legacy_only)  # fmt: skip


def test_a_wrong_secret_is_permanent_and_not_echoed() -> None:
    routes = {
        f"POST /{TENANT}/oauth2/v2.0/token": {
            "status": 401,
            "body": {"error": "invalid_client",
                     "error_description": "AADSTS7000215: Invalid client secret provided. "
                     f"Ensure the secret being sent is the client secret value ({SECRET}).\r\n"
                     "Trace ID: 0000",
                     "error_codes": [7000215]},
        }
    }  # fmt: skip
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="invalid_client: AADSTS7000215") as info:
            _run(server)
    assert info.value.permanent
    assert SECRET not in str(info.value)
