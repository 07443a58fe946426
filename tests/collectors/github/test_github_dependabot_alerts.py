"""``github_dependabot_alerts`` against hand-written GitHub REST responses on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, Severity, Status
from collectors.github.github_dependabot_alerts import GithubDependabotAlertsCollector
from collectors.lint import lint_collector
from collectors.testing import load_json, run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "github_dependabot_alerts"
TOKEN = "ghp_scrubbedTokenValue0123456789abcdef"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DEADLINE = "github_dependabot_alerts.remediated_within_deadline"
ORG = "GET /orgs/acme-corp/dependabot/alerts?per_page=100&state=open"
ORG_PAGE_2 = "GET /orgs/acme-corp/dependabot/alerts?after=Y3Vyc29yOnYyOpHOAAAAAg%3D%3D&per_page=100&state=open"  # noqa: E501
REPO = "GET /repos/acme-corp/{}/dependabot/alerts?per_page=100&state=open"
ALERT = "acme-corp/{}/security/dependabot/{}"
EXPECTED = {
    ALERT.format("api", 12): Status.FAIL,  # critical, 11 days open (7 allowed)
    ALERT.format("api", 13): Status.PASS,  # high, 21 of 30 days
    ALERT.format("infra", 1): Status.FAIL,  # high, 91 of 30 days
    ALERT.format("web", 3): Status.FAIL,  # medium, 122 of 90 days
    ALERT.format("web", 4): Status.PASS,  # low, 61 of 180 days
}


def _params(base_url: str, **extra: object) -> dict[str, object]:
    return {"org": "acme-corp", "token": TOKEN, "base_url": base_url, **extra}


def _run(server, waits: list[float] | None = None, **extra: object):
    sleep = waits.append if waits is not None else (lambda _s: None)
    return run_collector(
        GithubDependabotAlertsCollector, _params(server.base_url, **extra), now=NOW, sleep=sleep
    )


def test_collector_is_conformant() -> None:
    assert lint_collector(GithubDependabotAlertsCollector) == []


def test_org_alerts_over_cursor_pages_with_a_secondary_limit() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = _run(server, waits)
        assert server.hits(ORG) == 1 and server.hits(ORG_PAGE_2) == 2  # 429, then the page
        assert server.hits(REPO.format("api")) == 0  # no fallback needed
    assert waits == [2.0]  # the secondary limit's Retry-After
    assert result.statuses(DEADLINE) == EXPECTED  # infra#2 was fixed: not a row
    first = result.rows[0]
    assert first["alert"] == ALERT.format("api", 12) and first["repository"] == "acme-corp/api"
    assert first["severity"] == "critical" and first["cve_id"] == "CVE-2026-1111"
    assert (first["ecosystem"], first["package"]) == ("npm", "lodash")
    assert first["first_patched_version"] == "4.17.22"
    assert first["created_at"] == "2026-11-20T10:00:00.000000Z"
    # the vulnerability's severity wins over the advisory's (django: high, advisory medium)
    assert result.rows[1]["severity"] == "high"
    failing = result.finding(DEADLINE, ALERT.format("api", 12))
    assert failing.severity is Severity.CRITICAL
    assert "CVE-2026-1111 in npm lodash" in failing.message
    assert "deadline of 7 days (2026-11-27 10:00 UTC) by 4 days" in failing.message
    assert result.finding(DEADLINE, ALERT.format("web", 4)).severity is Severity.LOW
    assert result.identity == "github:audit-bot"
    assert "github:dependabot/list-alerts-for-org" in result.api_calls


def test_primary_limit_used_up_waits_for_the_reset() -> None:
    routes = load_json(FIXTURES / "routes.json")
    first = routes[ORG]
    reset = int(time.time()) + 30
    first["headers"].update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    # and page 2 first answers the exhausted primary limit (403, remaining 0) with the reset
    routes[ORG_PAGE_2] = [
        {"status": 403, "headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
         "body": {"message": "API rate limit exceeded for user ID 4242."}},
        routes[ORG_PAGE_2][1],
    ]  # fmt: skip
    waits: list[float] = []
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = _run(server, waits)
    assert len(waits) == 2 and all(25 <= w <= 31 for w in waits), waits
    assert result.statuses(DEADLINE) == EXPECTED


def test_a_reset_beyond_the_time_budget_fails_the_run_as_transient() -> None:
    routes = load_json(FIXTURES / "routes.json")
    routes[ORG]["headers"].update(
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)}
    )
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(GithubDependabotAlertsCollector, _params(server.base_url), now=NOW,
                          sleep=lambda _s: None, time_budget=600)  # fmt: skip
    assert not info.value.permanent and "rate limit is used up" in info.value.message


def test_refused_org_endpoint_falls_back_per_repository() -> None:
    routes = {
        ORG: {
            "status": 403,
            "body": {"message": "Resource not accessible by personal access token"},
        }
    }
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = _run(server)
        assert server.hits("GET /orgs/acme-corp/repos?per_page=100&type=all") == 1
        assert server.hits(REPO.format("api").replace("per_page", "after=YXBpOjEz&per_page")) == 1
    assert result.statuses(DEADLINE) == {
        **EXPECTED,
        "acme-corp/secret": Status.ERROR,  # Dependabot alerts disabled there; others go on
    }  # api#9 was dismissed and infra#2 fixed: neither is a row
    message = result.finding(DEADLINE, "acme-corp/secret").message
    assert "Dependabot alerts are disabled for this repository" in message
    assert {r["number"] for r in result.rows if r["repository"] == "acme-corp/api"} == {12, 13}


def test_selected_repositories() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = _run(server, repositories=["web", "acme-corp/missing"])
        assert server.hits(ORG) == 0 and server.hits("GET /orgs/acme-corp/repos") == 0
    assert result.statuses(DEADLINE) == {
        ALERT.format("web", 3): Status.FAIL,
        ALERT.format("web", 4): Status.PASS,
        "acme-corp/missing": Status.ERROR,
    }


def test_bad_token_fails_the_run() -> None:
    routes = {ORG: {"status": 401, "body": {"message": "Bad credentials"}}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError) as info:
            _run(server)
    assert info.value.permanent


def test_no_open_alert_passes_and_thresholds_apply() -> None:
    routes = {ORG: {"body": []}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = _run(server)
    assert result.rows == [] and result.statuses(DEADLINE) == {"*": Status.PASS}
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubDependabotAlertsCollector, _params(server.base_url), now=NOW,
            sleep=lambda _s: None, thresholds={DEADLINE: {"critical_days": 30, "low_days": 30}},
        )  # fmt: skip
    assert result.statuses(DEADLINE)[ALERT.format("api", 12)] == Status.PASS
    assert result.statuses(DEADLINE)[ALERT.format("web", 4)] == Status.FAIL
