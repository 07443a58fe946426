"""``github_org`` against recorded, scrubbed GitHub responses served on 127.0.0.1."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from collectors import CollectorError, Status
from collectors._http import HTTPSession
from collectors.github.github_org import GithubOrgCollector
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "github_org"
TOKEN = "ghp_scrubbedTokenValue0123456789abcdef"
#: Epoch seconds of the fake clock; the recorded rate limit resets 30 s later.
CLOCK = 1717232400.0


def _params(base_url: str) -> dict[str, str]:
    return {"org": "acme-corp", "token": TOKEN, "base_url": base_url}


def test_collector_is_conformant() -> None:
    assert lint_collector(GithubOrgCollector) == []
    assert GithubOrgCollector.identity_population
    names = [c.name for c in GithubOrgCollector.columns]
    assert tuple(names[: len(IDENTITY_COLUMN_NAMES)]) == IDENTITY_COLUMN_NAMES


def test_members_owners_collaborators_and_2fa() -> None:
    waits: list[float] = []
    session = HTTPSession(sleep=waits.append, clock=lambda: CLOCK, allow_http_loopback=True)
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(GithubOrgCollector, _params(server.base_url), http_session=session)
    # The 403 rate limit was waited out until X-RateLimit-Reset, then retried.
    assert waits == [30.0]
    assert server.hits("GET /orgs/acme-corp/members?per_page=100&filter=2fa_disabled") == 2
    assert server.hits("GET /orgs/acme-corp/members?per_page=100&page=2") == 1
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    assert result.identity == "github:audit-bot"
    assert [r["resource"] for r in result.rows] == [
        "org:acme-corp",
        "org:acme-corp/user:alice",
        "org:acme-corp/user:Bob",
        "org:acme-corp/user:carol",
        "org:acme-corp/user:dave",
        "org:acme-corp/user:eve",
        "org:acme-corp/user:frank-contractor",
        "org:acme-corp/user:grace-agency",
    ]
    alice = result.rows[1]
    assert {k: alice[k] for k in IDENTITY_COLUMN_NAMES} == {
        "account_id": "10001",
        "display_name": "alice",
        "email": None,
        "privileges": ["owner"],
        "is_privileged": True,
        "mfa_enabled": True,
        "last_activity_at": None,
        "status": "active",
        "source": "github:acme-corp",
    }
    frank = next(r for r in result.rows if r["display_name"] == "frank-contractor")
    assert frank["kind"] == "outside_collaborator" and frank["privileges"] == [
        "outside_collaborator"
    ]
    assert result.statuses("github_org.two_factor_required") == {"org:acme-corp": Status.FAIL}
    assert result.statuses("github_org.members_without_2fa") == {
        "org:acme-corp/user:alice": Status.PASS,
        "org:acme-corp/user:Bob": Status.FAIL,
        "org:acme-corp/user:carol": Status.PASS,
        "org:acme-corp/user:dave": Status.PASS,
        "org:acme-corp/user:eve": Status.FAIL,
        "org:acme-corp/user:frank-contractor": Status.FAIL,
        "org:acme-corp/user:grace-agency": Status.PASS,
    }
    assert result.errors == []
    assert "github:orgs/list-outside-collaborators" in result.api_calls


def test_people_are_named_within_their_organisation() -> None:
    # Issue 12.2: "user:<login>" was the same resource for a person in two organisations
    # (two connections), so one organisation's result could stand for the other's.
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubOrgCollector,
            _params(server.base_url),
            http_session=HTTPSession(sleep=lambda _: None, allow_http_loopback=True),
        )
    people = [r["resource"] for r in result.rows if r["kind"] != "organization"]
    assert people and all(r.startswith("org:acme-corp/user:") for r in people)
    assert {f.resource for f in result.findings} <= {"org:acme-corp", *people}


def test_rate_limit_beyond_the_budget_is_a_transient_error() -> None:
    routes = {
        "GET /user": {
            "status": 403,
            "headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"},
            "body": {"message": "API rate limit exceeded"},
        }
    }
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="rate limited") as info:
            run_collector(GithubOrgCollector, _params(server.base_url), time_budget=60)
    assert not info.value.permanent


def test_token_that_is_not_an_owner_gives_errors_not_passes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    org = {"login": "acme-corp", "id": 70001, "type": "Organization"}
    forbidden = {
        "status": 403,
        "headers": {"X-RateLimit-Remaining": "4999"},
        "body": {"message": "Must have admin rights to Repository.", "documentation_url": "x"},
    }
    routes = {
        "GET /orgs/acme-corp": {"body": org},
        "GET /orgs/acme-corp/members?per_page=100&filter=2fa_disabled": forbidden,
        "GET /orgs/acme-corp/outside_collaborators?per_page=100&filter=2fa_disabled": forbidden,
    }
    caplog.set_level(logging.WARNING, logger="collectors")
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = run_collector(GithubOrgCollector, _params(server.base_url))
    assert result.statuses("github_org.two_factor_required") == {"org:acme-corp": Status.ERROR}
    # Issue 13.8: an unread 2FA status is an ERROR for each person, never an absence.
    statuses = result.statuses("github_org.members_without_2fa")
    people = [r["resource"] for r in result.rows if r["kind"] != "organization"]
    assert people and statuses == {"*": Status.ERROR, **dict.fromkeys(people, Status.ERROR)}
    assert all(r["mfa_enabled"] is None for r in result.rows)
    message = result.finding("github_org.members_without_2fa", "*").message
    assert "HTTP 403" in message and TOKEN not in caplog.text
    # The recorded errors, exactly (pinned when ctx.attempt replaced the hand-written catch).
    base = server.base_url
    assert [(e["message"], e["action"], e["resource"], e["assertions"]) for e in result.errors][
        -2:
    ] == [
        (
            f"cannot list {kind} without 2FA: HTTP 403 Forbidden from GET {base}/orgs/acme-corp/"
            f"{path}: check the credentials and their scopes",
            f"github:{operation}",
            None,
            ("github_org.members_without_2fa",),
        )
        for kind, path, operation in (
            ("members", "members", "orgs/list-members"),
            ("outside collaborators", "outside_collaborators", "orgs/list-outside-collaborators"),
        )
    ]


def test_bad_token_is_permanent() -> None:
    routes = {"GET /user": {"status": 401, "body": {"message": "Bad credentials"}}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="HTTP 401") as info:
            run_collector(GithubOrgCollector, _params(server.base_url))
    assert info.value.permanent
    assert TOKEN not in str(info.value)
