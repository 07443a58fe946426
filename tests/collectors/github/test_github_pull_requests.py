"""``github_pull_requests`` against hand-written GitHub REST responses served on 127.0.0.1."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, Status
from collectors.github._generated import serve_generated_pull_requests
from collectors.github.github_pull_requests import (
    GithubPullRequestsCollector,
    approvers_at,
    issue_keys,
)
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "github_pull_requests"
TOKEN = "ghp_scrubbedTokenValue0123456789abcdef"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
APPROVED = "github_pull_requests.approved_by_another_person"
CHECKS = "github_pull_requests.required_checks_passed"
PAGE = "base=main&direction=desc&page={}&per_page=100&sort=updated&state=closed"


def _params(base_url: str, **extra: object) -> dict[str, object]:
    return {"org": "acme-corp", "token": TOKEN, "base_url": base_url, **extra}


def test_collector_is_conformant() -> None:
    assert lint_collector(GithubPullRequestsCollector) == []


def test_merged_pull_requests_of_the_org() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubPullRequestsCollector, _params(server.base_url), now=NOW, sleep=waits.append
        )
        # pages 1 and 2 of api's pull requests; page 3 is older than the window
        assert server.hits(f"GET /repos/acme-corp/api/pulls?{PAGE.format(2)}") == 1
        assert server.hits(f"GET /repos/acme-corp/api/pulls?{PAGE.format(3)}") == 0
        assert server.hits("GET /repos/acme-corp/api/pulls/103/reviews") == 0  # not merged
    assert waits == [1.0]  # the secondary rate limit's Retry-After, then success
    assert [r["pull_request"] for r in result.rows] == [
        "acme-corp/api#101",
        "acme-corp/api#102",
        "acme-corp/api#104",
        "acme-corp/web#7",
    ]
    first = result.rows[0]
    assert first["author"] == "alice" and first["merged_by"] == "bob"
    assert first["approvers"] == ["bob"]
    assert first["required_checks"] == ["ci/lint", "ci/test"]
    assert first["check_conclusions"] == {"ci/lint": "neutral", "ci/test": "success"}
    assert first["issue_keys"] == ["OPS-7", "PAY-12"]  # SHA256 is not a key
    assert first["merged_at"] == "2026-11-28T11:59:00.000000Z"
    assert result.statuses(APPROVED) == {
        "acme-corp/api#101": Status.PASS,
        "acme-corp/api#102": Status.FAIL,
        "acme-corp/api#104": Status.FAIL,
        "acme-corp/web#7": Status.PASS,
        "acme-corp/secret": Status.ERROR,
    }
    assert "without an approving review" in result.finding(APPROVED, "acme-corp/api#102").message
    assert result.statuses(CHECKS) == {
        "acme-corp/api#101": Status.PASS,
        "acme-corp/api#102": Status.FAIL,
        "acme-corp/api#104": Status.PASS,  # ci/lint from the commit status
        "acme-corp/secret": Status.ERROR,
    }  # web requires no checks: not applicable
    assert "ci/test: failure" in result.finding(CHECKS, "acme-corp/api#102").message
    secret = result.finding(APPROVED, "acme-corp/secret").message
    assert "Resource not accessible" in secret or "HTTP 403" in secret
    assert result.rows[3]["issue_keys"] == ["WEB-12"]
    assert result.identity == "github:audit-bot"
    assert "github:pulls/list-reviews" in result.api_calls
    assert "github:checks/list-for-ref" in result.api_calls


def test_selected_repositories_and_window() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubPullRequestsCollector,
            _params(server.base_url, repositories=["api", "acme-corp/missing"], window_days=10),
            now=NOW,
        )
        assert server.hits("GET /orgs/acme-corp/repos") == 0
        assert server.hits(f"GET /repos/acme-corp/api/pulls?{PAGE.format(2)}") == 1
    # #104 (merged 2026-11-20) is outside 10 days
    assert [r["number"] for r in result.rows] == [101, 102]
    assert result.statuses(APPROVED)["acme-corp/missing"] == Status.ERROR


def test_bad_token_fails_the_run() -> None:
    routes = {"GET /repos/acme-corp/api/pulls": {"status": 401, "body": {"message": "Bad"}}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(
                GithubPullRequestsCollector,
                _params(server.base_url, repositories=["api"]),
                now=NOW,
            )
    assert info.value.permanent


def test_unreadable_reviews_are_errors_for_that_pull_request() -> None:
    routes = {
        "GET /repos/acme-corp/api/pulls/101/reviews": {"status": 404, "body": {"message": "x"}}
    }
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = run_collector(
            GithubPullRequestsCollector, _params(server.base_url, repositories=["api"]), now=NOW
        )
    assert result.statuses(APPROVED)["acme-corp/api#101"] == Status.ERROR
    assert result.statuses(APPROVED)["acme-corp/api#102"] == Status.FAIL
    assert result.statuses(CHECKS)["acme-corp/api#101"] == Status.PASS
    assert "reviews: HTTP 404" in result.rows[0]["read_error"]


def test_approvers_at_merge_time() -> None:
    merged = datetime(2026, 11, 1, 12, tzinfo=UTC)

    def review(login: str, state: str, hour: int) -> dict[str, object]:
        return {"user": {"login": login}, "state": state,
                "submitted_at": f"2026-11-01T{hour:02d}:00:00Z"}  # fmt: skip

    assert approvers_at([review("a", "APPROVED", 9), review("a", "COMMENTED", 10)], merged) == ["a"]
    assert approvers_at([review("a", "APPROVED", 9), review("a", "DISMISSED", 10)], merged) == []
    assert approvers_at([review("a", "APPROVED", 13)], merged) == []
    assert approvers_at([review("b", "CHANGES_REQUESTED", 9), review("b", "APPROVED", 11)],
                        merged) == ["b"]  # fmt: skip


def test_issue_keys() -> None:
    assert issue_keys("ABC-123: fix", "feature/XY-9-thing", None) == ["ABC-123", "XY-9"]
    assert issue_keys("abc-123 UTF8 A-1 ABC-0") == []


def _peak_bytes(prs: int) -> int:
    """Peak Python allocations of one collection of ``prs`` pull requests (server apart)."""
    with serve_generated_pull_requests(repos=1, prs_per_repo=prs) as server:
        gc.collect()
        tracemalloc.start()
        try:
            result = run_collector(
                GithubPullRequestsCollector,
                {"org": "bench-org", "token": TOKEN, "base_url": server.base_url},
                now=NOW,
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert len(result.rows) == prs
    assert server.requests == 3 + (prs + 99) // 100 + 3 * prs  # user, repos, checks; pages
    assert result.statuses(CHECKS)["bench-org/repo-0000#1"] == Status.PASS  # e2e not required
    return peak


def test_memory_per_pull_request_is_the_row_not_the_payloads() -> None:
    """Each pull request's payloads (about 9 KB as JSON) are dropped once its row is built."""
    small = _peak_bytes(100)
    large = _peak_bytes(400)
    per_pr = (large - small) / 300
    print(f"peak {small} B at 100, {large} B at 400: {per_pr:.0f} B per pull request")
    assert per_pr < 6000, per_pr  # the row, its coerced copy and two findings
