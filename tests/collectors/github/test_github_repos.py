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
    assert api["force_push_blocked"] is True and api["enforce_admins"] is True
    assert api["protection_source"] == "classic"
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
    assert "github:repos/get-branch-rules" in result.api_calls
    assert all(r["rulesets"] == [] and r["rulesets_error"] is None for r in result.rows)


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


def _run(*repos: str, **thresholds: object):
    with serve_fixtures(FIXTURES) as server:
        return run_collector(
            GithubReposCollector,
            _params(server.base_url, repos=list(repos)),
            thresholds={ASSERTION: thresholds} if thresholds else None,
        )


def test_ruleset_only_protection_passes() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(GithubReposCollector, _params(server.base_url, repos=["payments"]))
        # both pages of the rules were read
        assert (
            server.hits("GET /api/v3/repos/acme-corp/payments/rules/branches/main?per_page=100")
            == 1
        )
        assert (
            server.hits(
                "GET /api/v3/repos/acme-corp/payments/rules/branches/main?per_page=100&page=2"
            )
            == 1
        )
    row = result.rows[0]
    assert row["protected"] is True and row["protection_source"] == "rulesets"
    assert row["pull_request_required"] is True and row["required_approvals"] == 2
    assert row["force_push_blocked"] is True and row["deletion_blocked"] is True
    assert row["dismiss_stale_reviews"] is True and row["require_code_owner_reviews"] is True
    assert row["enforce_admins"] is None
    assert row["required_status_checks"] == ["ci/test"]
    assert row["rulesets"] == [
        {
            "ruleset_id": 4201,
            "source_type": "Organization",
            "source": "acme-corp",
            "rules": ["deletion", "non_fast_forward", "pull_request", "required_status_checks"],
        }
    ]
    assert result.statuses(ASSERTION) == {"acme-corp/payments": Status.PASS}
    assert "protection: rulesets" in result.finding(ASSERTION, "acme-corp/payments").message
    assert result.errors == []


def test_ruleset_with_too_few_approvals_fails() -> None:
    result = _run("mobile")
    row = result.rows[0]
    assert row["protection_source"] == "rulesets" and row["required_approvals"] == 0
    assert row["force_push_blocked"] is True
    assert result.statuses(ASSERTION) == {"acme-corp/mobile": Status.FAIL}
    message = result.finding(ASSERTION, "acme-corp/mobile").message
    assert "0 approvals required (at least 1)" in message
    assert "force pushes" not in message


def test_classic_and_rulesets_combine() -> None:
    """Classic gives 2 approvals but allows force pushes; a ruleset blocks them."""
    result = _run("billing")
    row = result.rows[0]
    assert row["protection_source"] == "both"
    assert row["required_approvals"] == 2  # the higher of classic (2) and the ruleset (1)
    assert row["force_push_blocked"] is True  # non_fast_forward rule beats classic's allow
    assert row["deletion_blocked"] is True  # classic allow_deletions is false
    assert row["enforce_admins"] is False
    assert row["required_status_checks"] == ["ci/lint", "ci/test", "security/codeql"]
    assert [r["ruleset_id"] for r in row["rulesets"]] == [131, 4207]
    assert result.statuses(ASSERTION) == {"acme-corp/billing": Status.PASS}
    assert "protection: both" in result.finding(ASSERTION, "acme-corp/billing").message
    stricter = _run("billing", min_approvals=3)
    assert stricter.statuses(ASSERTION) == {"acme-corp/billing": Status.FAIL}
    assert (
        "2 approvals required (at least 3)"
        in stricter.finding(ASSERTION, "acme-corp/billing").message
    )


def test_rules_endpoint_404_means_classic_only() -> None:
    result = _run("api")
    row = result.rows[0]
    assert row["protection_source"] == "classic"
    assert row["rulesets"] == [] and row["rulesets_error"] is None
    assert result.errors == []
    assert result.statuses(ASSERTION) == {"acme-corp/api": Status.PASS}
    assert "protection: classic" in result.finding(ASSERTION, "acme-corp/api").message


def test_non_fast_forward_only_ruleset_still_fails_reviews() -> None:
    result = _run("infra")
    row = result.rows[0]
    assert row["protected"] is True and row["protection_source"] == "rulesets"
    assert row["force_push_blocked"] is True and row["pull_request_required"] is False
    assert row["required_approvals"] is None
    assert result.statuses(ASSERTION) == {"acme-corp/infra": Status.FAIL}
    message = result.finding(ASSERTION, "acme-corp/infra").message
    assert "pull requests are not required" in message and "force pushes" not in message


def test_unreadable_rules_never_pass_on_their_own() -> None:
    """403 on the rules: classic alone decides when it passes, otherwise ERROR."""
    result = _run("ops", "sandbox")
    ops, sandbox = result.rows
    assert ops["protection_source"] == "classic" and ops["rulesets"] is None
    assert "HTTP 403 from GET /repos/acme-corp/ops/rules/branches/main" in ops["rulesets_error"]
    assert sandbox["protected"] is False and sandbox["rulesets"] is None
    assert result.statuses(ASSERTION) == {
        "acme-corp/ops": Status.PASS,
        "acme-corp/sandbox": Status.ERROR,
    }
    assert "rulesets not read" in result.finding(ASSERTION, "acme-corp/ops").message
    message = result.finding(ASSERTION, "acme-corp/sandbox").message
    assert "/repos/acme-corp/sandbox/rules/branches/main" in message
    assert "Resource not accessible by personal access token" in message
    stricter = _run("ops", min_approvals=3)
    assert stricter.statuses(ASSERTION) == {"acme-corp/ops": Status.ERROR}
    assert "rules/branches/main" in stricter.finding(ASSERTION, "acme-corp/ops").message
