"""``github_pull_requests`` against hand-written GitHub REST responses served on 127.0.0.1."""

from __future__ import annotations

import copy
import gc
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, Status, schema
from collectors.github._generated import serve_generated_pull_requests
from collectors.github.github_pull_requests import (
    GithubPullRequestsCollector,
    approvers_at,
    issue_keys,
    project_issue_keys,
    project_key_pattern,
    ticket_projects,
)
from collectors.lint import lint_collector
from collectors.testing import load_json, make_context, run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "github_pull_requests"
TOKEN = "ghp_scrubbedTokenValue0123456789abcdef"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
APPROVED = "github_pull_requests.approved_by_another_person"
CHECKS = "github_pull_requests.required_checks_passed"
PUSHES = "github_pull_requests.no_direct_pushes"
TICKET = "github_pull_requests.cites_a_ticket"
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
        "acme-corp/api@dd01eeeeeeee",  # mallory's push; the other pushes are merges
        "acme-corp/web#7",
    ]
    first = result.rows[0]
    assert first["author"] == "alice" and first["merged_by"] == "bob"
    assert first["approvers"] == ["bob"]
    assert first["required_checks"] == ["ci/lint", "ci/test"]
    assert first["check_conclusions"] == {"ci/lint": "neutral", "ci/test": "success"}
    assert first["issue_keys"] == ["OPS-7", "PAY-12"]  # SHA256 is not a key
    assert first["merged_at"] == "2026-11-28T11:59:00.000000Z"
    assert result.statuses(APPROVED) == {  # the direct push is judged by PUSHES only
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
    assert result.rows[4]["issue_keys"] == ["WEB-12"]
    push = result.rows[3]
    assert push["change_type"] == "direct_push" and push["number"] is None
    assert push["author"] == "mallory" and push["merged_at"] == "2026-11-27T23:10:00.000000Z"
    assert push["title"] == "hotfix: raise the payment timeout"
    assert push["url"] == "https://github.com/acme-corp/api/commit/dd01" + "e" * 36
    assert first["branch_protection"] == {
        "protected": True, "reviews_required": True, "required_approvals": 1,
        "enforce_admins": False, "bypass_allowances": ["user:release-bot"],
    }  # fmt: skip
    # the events of api reach an event older than the window on page 2: page 3 is not read
    assert server.hits("GET /repos/acme-corp/api/events?page=3&per_page=100") == 0
    assert first["push_events_from"] == "2026-09-02T00:00:00.000000Z"
    assert first["push_events_cover_window"] is True
    assert result.statuses(PUSHES) == {
        "acme-corp/api": Status.FAIL,
        "acme-corp/web": Status.PASS,  # one page of events: all of the last 90 days
        "acme-corp/secret": Status.ERROR,
    }
    assert "dd01eeeeeeee by mallory" in result.finding(PUSHES, "acme-corp/api").message
    assert result.statuses(TICKET) == {
        "acme-corp/api#101": Status.PASS,
        "acme-corp/api#102": Status.FAIL,
        "acme-corp/api#104": Status.PASS,
        "acme-corp/api@dd01eeeeeeee": Status.FAIL,
        "acme-corp/web#7": Status.PASS,
        "acme-corp/secret": Status.ERROR,
    }
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
    # #104 (merged 2026-11-20) is outside 10 days; mallory's push (11-27) is inside
    assert [r["pull_request"] for r in result.rows] == [
        "acme-corp/api#101", "acme-corp/api#102", "acme-corp/api@dd01eeeeeeee",
    ]  # fmt: skip
    assert result.rows[0]["push_events_from"] == "2026-11-21T00:00:00.000000Z"
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


def _events_pages(count: int, *, start_day: int = 30) -> dict[str, object]:
    """Routes of web's events: ``count`` WatchEvents, 100 a page, newest first."""
    events = [
        {"id": str(5000 - i), "type": "WatchEvent", "actor": {"id": 1, "login": "zed"},
         "repo": {"id": 5004, "name": "acme-corp/web"}, "payload": {"action": "started"},
         "public": False,
         "created_at": f"2026-11-{start_day - i // 24:02d}T{23 - i % 24:02d}:00:00Z"}
        for i in range(count)
    ]  # fmt: skip
    routes: dict[str, object] = {}
    pages = [events[i : i + 100] for i in range(0, count, 100)]
    for number, page in enumerate(pages, start=1):
        key = "GET /repos/acme-corp/web/events" + (
            "" if number == 1 else f"?page={number}&per_page=100"
        )
        spec: dict[str, object] = {"body": page}
        if number < len(pages):
            link = f"{{base_url}}/repos/acme-corp/web/events?page={number + 1}&per_page=100"
            spec["headers"] = {"Link": f'<{link}>; rel="next"'}
        routes[key] = spec
    return routes


def _web(routes: dict[str, object]) -> dict[str, object]:
    with serve_fixtures(FIXTURES, routes=routes) as server:
        result = run_collector(
            GithubPullRequestsCollector,
            _params(server.base_url, repositories=["web"]),
            now=NOW,
            sleep=lambda seconds: None,
        )
    return {"row": result.rows[0], "finding": result.finding(PUSHES, "acme-corp/web")}


def test_events_capped_at_300_cover_only_part_of_the_window() -> None:
    """300 events within the window: the API keeps no more, so earlier pushes are unseen."""
    seen = _web(_events_pages(300))
    assert seen["row"]["push_events_cover_window"] is False
    assert seen["row"]["push_events_from"] == "2026-11-18T12:00:00.000000Z"  # the oldest
    assert seen["finding"].status == Status.WARN
    assert "keeps only 90 days and 300 events" in seen["finding"].message
    fewer = _web(_events_pages(299))  # the list ended before the cap: all of 90 days
    assert fewer["row"]["push_events_cover_window"] is True
    assert fewer["finding"].status == Status.PASS


_REFUSING = {
    "body": {
        "required_pull_request_reviews": {
            "required_approving_review_count": 2,
            "bypass_pull_request_allowances": {"users": [], "teams": [], "apps": []},
        },
        "enforce_admins": {"enabled": True},
    }
}
_NO_EVENTS = {"status": 403, "body": {"message": "Resource not accessible by integration"}}


def test_protection_that_refuses_pushes_stands_in_for_unread_events() -> None:
    refusing = _web({
        "GET /repos/acme-corp/web/branches/develop/protection": _REFUSING,
        "GET /repos/acme-corp/web/events": _NO_EVENTS,
    })  # fmt: skip
    assert refusing["row"]["push_events_from"] is None
    assert "events: HTTP 403" in refusing["row"]["push_check_error"]
    assert refusing["finding"].status == Status.PASS
    assert "classic protection refuses direct pushes" in refusing["finding"].message
    assert refusing["row"]["required_checks"] == []  # protected, but no checks required
    unprotected = _web({"GET /repos/acme-corp/web/events": _NO_EVENTS})
    assert unprotected["finding"].status == Status.ERROR
    assert "could not be read" in unprotected["finding"].message
    admins_exempt = _web({
        "GET /repos/acme-corp/web/branches/develop/protection": {
            "body": {**_REFUSING["body"], "enforce_admins": {"enabled": False}}
        },
        "GET /repos/acme-corp/web/events": _NO_EVENTS,
    })  # fmt: skip
    assert admins_exempt["finding"].status == Status.ERROR


def test_tickets_of_configured_projects() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            GithubPullRequestsCollector,
            _params(server.base_url, repositories=["api"]),
            now=NOW,
            thresholds={TICKET: {"ticket_projects": ["pay", "OPS"]}},
        )
    assert result.statuses(TICKET) == {
        "acme-corp/api#101": Status.PASS,
        "acme-corp/api#102": Status.FAIL,
        "acme-corp/api#104": Status.FAIL,
        "acme-corp/api@dd01eeeeeeee": Status.FAIL,
    }
    assert result.finding(TICKET, "acme-corp/api#101").message == (
        "acme-corp/api#101 cites OPS-7, PAY-12."
    )
    assert result.finding(TICKET, "acme-corp/api#104").message == (
        "acme-corp/api#104 cites no ticket of PAY, OPS (only SEC-3)."
    )


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


def test_linear_identifiers_are_issue_keys() -> None:
    """A Linear identifier (team key and number, the ``key`` of ``linear_changes``) is cited
    like a Jira key, in upper case; Linear's suggested lower-case branch names count only for
    configured ``ticket_projects`` (next tests)."""
    texts = ("ENG-123 Fix the login redirect", "alice/ENG-42-fix-login", "Closes OPS2-7")
    assert issue_keys(*texts) == ["ENG-123", "ENG-42", "OPS2-7"]
    assert issue_keys("alice/eng-42-fix-login") == []


def test_lower_case_keys_of_configured_projects() -> None:
    pattern = project_key_pattern(["ENG", "OPS2"])
    assert project_issue_keys("alice/eng-42-fix-login", pattern) == ["ENG-42"]
    assert project_issue_keys("ops2-7_and_Eng-5/ENG-42", pattern) == ["ENG-42", "ENG-5", "OPS2-7"]
    # another project, a longer word, a leading zero, a letter or digit glued on: not keys
    for text in ("alice/web-3-copy", "alice/engine-42", "eng-042-x", "xeng-4", "eng-4b",
                 "preeng-42", "eng-42x", "2eng-4", "eng-42a: fix"):  # fmt: skip
        assert project_issue_keys(text, pattern) == [], text
    assert project_key_pattern([]) is None
    assert project_issue_keys("alice/eng-42-fix-login", None) == []
    # case folding is ASCII only: the Kelvin sign (U+212A) is not a K
    assert project_issue_keys("\u212aey-1 key-2", project_key_pattern(["KEY"])) == ["KEY-2"]


def test_lower_case_keys_in_titles_bodies_and_commit_messages() -> None:
    """Version 4: a configured project's key counts in any case in every text read (title,
    branch, body, commit messages), upper-cased and once; nothing else changes."""
    projects = project_key_pattern(ticket_projects([" eng ", "sec"]))
    assert issue_keys("eng-42: fix login", projects=projects) == ["ENG-42"]
    assert issue_keys("Tune retries", "carol/retries", "Closes Eng-7.", projects=projects) == [
        "ENG-7"
    ]
    assert issue_keys("wip", "hotfix (sec-3)\n\nno time for a PR", projects=projects) == ["SEC-3"]
    # one key, however often and in whatever case it is written
    texts = ("ENG-42 eng-42: fix", "alice/eng-42-fix", "See eng-42, Eng-42 and eNG-42.")
    assert issue_keys(*texts, projects=projects) == ["ENG-42"]
    # unconfigured lower-case words are never keys; upper-case keys of any project still are
    assert issue_keys("utf-8 logs, sha-256 digests, ops-7", projects=projects) == []
    assert issue_keys("OPS-7: utf-8 (eng-5)", projects=projects) == ["ENG-5", "OPS-7"]
    # word boundaries: a letter or digit glued on either side makes no key
    assert issue_keys("preeng-42 eng-42x 1eng-3 sec-3a", projects=projects) == []
    # without configured projects only upper case counts, as before
    assert issue_keys("eng-42: fix login", "Closes Eng-7") == []
    assert issue_keys("eng-42: fix login", projects=None) == []


def _lower_case_routes() -> dict[str, object]:
    """api#102 merged from Linear's suggested branch carol/eng-42-tune-retries, its title
    citing eng-5 and its body eng-7 (twice) in lower case beside words that are not keys
    (recorded: "Tune retries" from carol/retries, empty body); mallory's direct push dd01
    cites eng-9 in its commit message (recorded: no key)."""
    routes = load_json(FIXTURES / "routes.json")
    changed = {}
    for route in ("GET /repos/acme-corp/api/pulls", "GET /repos/acme-corp/api/pulls/102"):
        answer = changed[route] = copy.deepcopy(routes[route])
        body = answer["body"]
        for pull in body if isinstance(body, list) else [body]:
            if pull["number"] == 102:
                pull["head"]["ref"] = "carol/eng-42-tune-retries"
                pull["title"] = "Tune retries (eng-5)"
                pull["body"] = ("Follow-up of eng-7 (ENG-7). Logs are utf-8, digests sha-256; "
                                "not preeng-9 nor eng-10x.")  # fmt: skip
    events = changed["GET /repos/acme-corp/api/events"] = copy.deepcopy(
        routes["GET /repos/acme-corp/api/events"]
    )
    for event in events["body"]:
        for commit in (event.get("payload") or {}).get("commits") or ():
            if commit["sha"].startswith("dd01"):
                commit["message"] = "hotfix: raise the payment timeout (eng-9)"
    return changed


def test_lower_case_keys_cite_a_configured_project_only() -> None:
    """With ticket_projects ENG a lower-case ENG key counts in the branch, title, body and
    commit messages, upper-cased and once in issue_keys; without configured projects lower
    case never counts."""
    with serve_fixtures(FIXTURES, routes=_lower_case_routes()) as server:
        plain = run_collector(
            GithubPullRequestsCollector, _params(server.base_url, repositories=["api"]), now=NOW
        )
        configured = run_collector(
            GithubPullRequestsCollector, _params(server.base_url, repositories=["api"]),
            now=NOW, thresholds={TICKET: {"ticket_projects": [" eng ", "PAY"]}},
        )  # fmt: skip
    push = "acme-corp/api@dd01eeeeeeee"
    plain_rows = {r["pull_request"]: r for r in plain.rows}
    assert plain_rows["acme-corp/api#102"]["issue_keys"] == ["ENG-7"]  # the upper-case one
    assert plain_rows[push]["issue_keys"] == []
    assert plain.statuses(TICKET)[push] == Status.FAIL
    rows = {r["pull_request"]: r for r in configured.rows}
    # branch ENG-42, title ENG-5, body ENG-7 (once); utf-8, sha-256, preeng-9, eng-10x: none
    assert rows["acme-corp/api#102"]["issue_keys"] == ["ENG-42", "ENG-5", "ENG-7"]
    assert rows[push]["issue_keys"] == ["ENG-9"]  # the commit message
    assert rows["acme-corp/api#101"]["issue_keys"] == ["OPS-7", "PAY-12"]  # unchanged
    assert configured.finding(TICKET, "acme-corp/api#102").message == (
        "acme-corp/api#102 cites ENG-42, ENG-5, ENG-7."
    )
    assert configured.finding(TICKET, push).message == f"{push} cites ENG-9."
    assert configured.finding(TICKET, "acme-corp/api#102").thresholds == {
        "ticket_projects": [" eng ", "PAY"]
    }
    assert configured.statuses(TICKET)["acme-corp/api#104"] == Status.FAIL  # SEC-3


def _peak_bytes(prs: int, *, keep: bool) -> int:
    """Peak Python allocations of one collection of ``prs`` pull requests (server apart).

    ``keep``: run it as the SDK does (coerced rows and findings kept); otherwise only the
    collector, each yielded row dropped at once.
    """
    with serve_generated_pull_requests(repos=1, prs_per_repo=prs) as server:
        params = {"org": "bench-org", "token": TOKEN, "base_url": server.base_url}
        ctx = make_context({**params, "repositories": [], "window_days": 90}, now=NOW)
        gc.collect()
        tracemalloc.start()
        try:
            if keep:
                result = run_collector(GithubPullRequestsCollector, params, now=NOW)
                rows = len(result.rows)
            else:
                rows = sum(1 for _ in GithubPullRequestsCollector().collect(ctx))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert rows == prs
    # user, repos, protection, events; pages of pull requests; per pull request 3 calls
    assert server.requests == 4 + (prs + 99) // 100 + 3 * prs
    if keep:  # e2e fails but is not required
        assert result.statuses(CHECKS)["bench-org/repo-0000#1"] == Status.PASS
    return peak


def test_collector_memory_is_flat_in_the_number_of_pull_requests() -> None:
    """The collector keeps no payload and no row: 200 and 400 pull requests (both over
    several pages, so two pages in flight at most) peak at the same size within the merge
    commit ids it keeps per repository (about 100 B each)."""
    small = _peak_bytes(200, keep=False)
    large = _peak_bytes(400, keep=False)
    per_pr = (large - small) / 200
    print(f"collector peak {small} B at 200, {large} B at 400: {per_pr:.0f} B per pull request")
    assert per_pr < 400, per_pr  # measured about 0


def test_memory_per_pull_request_is_the_coerced_row_and_its_findings(monkeypatch) -> None:
    """Run as the SDK runs it, what grows is the coerced row (about 1.3 KB) and its three
    findings (about 1 KB): the raw rows are coerced 100 at a time and dropped, and the
    payloads (about 9 KB of JSON per pull request) never accumulate."""
    monkeypatch.setattr(schema, "STREAM_CHUNK", 100)
    small = _peak_bytes(200, keep=True)
    large = _peak_bytes(400, keep=True)
    per_pr = (large - small) / 200
    print(f"peak {small} B at 200, {large} B at 400: {per_pr:.0f} B per pull request")
    assert per_pr < 2000, per_pr  # measured 1,400
