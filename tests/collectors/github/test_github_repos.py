"""``github_repos`` against recorded GitHub Enterprise Server responses served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import CollectorError, Status
from collectors.github.github_repos import GithubReposCollector
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "github_repos"
TOKEN = "ghp_scrubbedTokenValue0123456789abcdef"
ASSERTION = "github_repos.default_branch_protected"


def _params(base_url: str, **extra: object) -> dict[str, object]:
    return {"org": "acme-corp", "token": TOKEN, "base_url": base_url + "/api/v3/", **extra}


def test_collector_is_conformant() -> None:
    assert lint_collector(GithubReposCollector) == []


def test_all_repositories_of_the_org() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(GithubReposCollector, _params(server.base_url), sleep=waits.append)
    assert waits == [2.0]  # the secondary rate limit's Retry-After
    assert [r["repository"] for r in result.rows] == [
        "acme-corp/api",
        "acme-corp/docs",
        "acme-corp/legacy",
        "acme-corp/tools",
        "acme-corp/web",
    ]
    api = result.rows[0]
    assert api["protected"] and api["required_approvals"] == 2
    assert api["allow_force_pushes"] is False and api["enforce_admins"] is True
    assert api["required_status_checks"] == ["ci/lint", "ci/test"]
    statuses = result.statuses(ASSERTION)
    assert statuses == {
        "acme-corp/api": Status.PASS,
        "acme-corp/docs": Status.FAIL,
        "acme-corp/tools": Status.FAIL,
        "acme-corp/web": Status.FAIL,
    }  # the archived acme-corp/legacy is not assessed
    web = result.finding(ASSERTION, "acme-corp/web").message
    assert "pull requests are not required" in web and "force pushes are allowed" in web
    assert "0 approvals required" in result.finding(ASSERTION, "acme-corp/tools").message
    assert "is not protected" in result.finding(ASSERTION, "acme-corp/docs").message
    assert result.identity == "github:audit-bot"


def test_approval_threshold_is_tunable() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubReposCollector,
            _params(server.base_url, repos=["api"]),
            thresholds={ASSERTION: {"min_approvals": 3}},
        )
    assert result.statuses(ASSERTION) == {"acme-corp/api": Status.FAIL}


def test_selected_repositories_with_errors_per_repository() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubReposCollector,
            _params(server.base_url, repos=["api", "acme-corp/missing", "secret"]),
        )
    assert server.hits("GET /api/v3/orgs/acme-corp/repos") == 0
    assert [r["repository"] for r in result.rows] == ["acme-corp/api", "acme-corp/secret"]
    assert result.statuses(ASSERTION) == {
        "acme-corp/api": Status.PASS,
        "acme-corp/missing": Status.ERROR,
        "acme-corp/secret": Status.ERROR,
    }
    assert "Not Found" in result.finding(ASSERTION, "acme-corp/missing").message
    assert "Upgrade to GitHub Pro" in result.finding(ASSERTION, "acme-corp/secret").message


def test_bad_token_fails_the_run() -> None:
    routes = {"GET /api/v3/repos/acme-corp/api": {"status": 401, "body": {"message": "Bad"}}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(GithubReposCollector, _params(server.base_url, repos=["api"]))
    assert info.value.permanent
