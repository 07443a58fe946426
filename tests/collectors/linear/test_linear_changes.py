"""``linear_changes`` against hand-written Linear GraphQL answers served on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors import CollectorError, ParamError, Status
from collectors._http import RetryBudget
from collectors.errors import ErrorKind
from collectors.linear.linear_changes import LinearChangesCollector, history_events
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "linear_changes"
KEY = "lin_api_scrubbedLinearPersonalKey0123456789abcdef"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
APPROVED = "linear_changes.approved_before_done"
WORKFLOW = "linear_changes.followed_required_workflow"
ROUTE = "POST /graphql"


def _params(url: str, **extra: object) -> dict[str, object]:
    return {"api_url": url, "api_key": KEY, "team_keys": ["eng", "OPS", "SEC"],
            "labels": ["change"], **extra}  # fmt: skip


def _recorded() -> list[dict[str, Any]]:
    routes = json.loads((FIXTURES / "routes.json").read_text(encoding="utf-8"))
    return list(routes[ROUTE])


def _sent(server: Any, operation: str) -> list[dict[str, Any]]:
    bodies = [json.loads(r["body"]) for r in server.requests]
    return [b for b in bodies if b["operationName"] == operation]


def test_collector_is_conformant() -> None:
    assert lint_collector(LinearChangesCollector) == []


def test_change_issues_of_teams() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(LinearChangesCollector, _params(server.url("/graphql")),
                               now=NOW, sleep=waits.append)  # fmt: skip
        issues = _sent(server, "Issues")
        histories = _sent(server, "IssueHistory")
        auth = server.requests[0]["headers"]["Authorization"]
        teams = _sent(server, "Teams")[0]["variables"]
    assert auth == KEY  # a personal API key goes as it is, without "Bearer"
    assert teams["keys"] == ["ENG", "OPS", "SEC"]
    assert waits == [3.0]  # RATELIMITED: X-RateLimit-Requests-Reset is NOW + 3000 ms
    # ENG: the rate-limited try, page 1, page 2 (after its endCursor); OPS: refused
    assert [i["variables"]["after"] for i in issues] == [None, None, "ENG-c1", None]
    first = issues[0]["variables"]
    assert first["first"] == 20 and first["historyFirst"] == 50
    assert first["filter"]["labels"] == {"some": {"name": {"in": ["change"]}}}
    assert first["filter"]["or"] == [
        {"updatedAt": {"gte": "2026-09-02T00:00:00.000Z"}},
        {"completedAt": {"gte": "2026-09-02T00:00:00.000Z"}},
    ]
    assert "state" not in first["filter"]
    # ENG-5's history: two more pages after the embedded one; ENG-6's refused
    assert [(h["variables"]["id"][:4], h["variables"]["after"]) for h in histories] == [
        ("9c06", "h6-c1"), ("9c05", "h5-c1"), ("9c05", "h5-c2")]  # fmt: skip
    assert [r["key"] for r in result.rows] == [f"ENG-{n}" for n in range(1, 8)]
    eng1 = result.rows[0]
    assert eng1["team"] == "ENG" and eng1["state"] == "Done" and eng1["state_type"] == "completed"
    assert eng1["assignee"] == "Alice Martin" and eng1["creator"] == "Bob Chen"
    assert eng1["labels"] == ["change"]
    assert eng1["created"] == "2026-11-02T09:00:00.000000Z"
    assert [(m["to"], m["by"]) for m in eng1["transitions"]] == [
        ("In Progress", "Alice Martin"),
        ("In Review", "Alice Martin"),
        ("Approved", "Bob Chen"),
        ("Done", "Alice Martin"),
    ]  # sorted by time: the fixture lists the history newest first
    assert eng1["label_changes"] == [{"at": "2026-11-02T09:30:00.000000Z", "by": "Alice Martin",
        "by_id": eng1["assignee_id"], "added": ["change"], "removed": []}]  # fmt: skip
    assert result.rows[3]["completed"] is None
    assert [m["to"] for m in result.rows[4]["transitions"]] == [
        "In Progress",
        "In Review",
        "Approved",
        "Done",
    ]  # read over three history pages
    eng6 = result.rows[5]
    assert eng6["transitions"] is None and eng6["label_changes"] is None
    assert "Could not find referenced Issue. (INVALID_INPUT) at issue" in eng6["read_error"]
    assert result.rows[6]["creator"] is None  # created by an integration
    assert result.statuses(APPROVED) == {
        "ENG-1": Status.PASS,
        "ENG-2": Status.FAIL,  # the Approved label came a day after Done
        "ENG-3": Status.FAIL,  # approved by its assignee only
        "ENG-5": Status.PASS,
        "ENG-6": Status.ERROR,
        "ENG-7": Status.FAIL,  # moved to Approved by an automation
        "OPS": Status.ERROR,
        "SEC": Status.ERROR,
    }  # ENG-4 is in progress: not applicable
    assert "(label Approved) at 2026-11-07T09:00:00.000000Z, after it was done" in (
        result.finding(APPROVED, "ENG-2").message
    )
    assert "only by its assignee Alice Martin" in result.finding(APPROVED, "ENG-3").message
    assert "integration or automation" in result.finding(APPROVED, "ENG-7").message
    assert "approved (state Approved) by Bob Chen" in result.finding(APPROVED, "ENG-1").message
    assert result.statuses(WORKFLOW) == {
        "ENG-1": Status.PASS,
        "ENG-2": Status.PASS,
        "ENG-3": Status.PASS,
        "ENG-5": Status.PASS,
        "ENG-6": Status.ERROR,
        "ENG-7": Status.PASS,
        "OPS": Status.ERROR,
        "SEC": Status.ERROR,
    }
    ops = result.finding(APPROVED, "OPS").message
    assert "team OPS" in ops and "access to the issues of this team. (FORBIDDEN)" in ops
    assert "team SEC was not found, or the api_key's user cannot read it" in (
        result.finding(WORKFLOW, "SEC").message
    )
    assert result.identity == "linear:audit-reader@acme.example"
    assert result.api_calls == ["linear:IssueHistory", "linear:Issues", "linear:Teams",
                                "linear:Viewer"]  # fmt: skip
    assert KEY not in str(result.rows) + str(result.findings) + str(result.errors)


def test_thresholds_describe_the_convention() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            LinearChangesCollector,
            _params(server.url("/graphql")),
            now=NOW,
            sleep=lambda seconds: None,
            thresholds={
                APPROVED: {"independent": False, "approval_labels": []},
                WORKFLOW: {"required_states": ["In Review", "Approved"]},
            },
        )
    approved = result.statuses(APPROVED)
    assert approved["ENG-1"] == Status.PASS
    assert approved["ENG-3"] == Status.FAIL  # its label no longer counts
    assert "without an approval (state Approved)" in result.finding(APPROVED, "ENG-3").message
    workflow = result.statuses(WORKFLOW)
    assert workflow["ENG-1"] == Status.PASS and workflow["ENG-2"] == Status.FAIL
    assert "without passing through Approved" in result.finding(WORKFLOW, "ENG-3").message


def test_self_approval_passes_when_not_independent() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(LinearChangesCollector, _params(server.url("/graphql")), now=NOW,
                               sleep=lambda seconds: None,
                               thresholds={APPROVED: {"independent": False}})  # fmt: skip
    assert result.statuses(APPROVED)["ENG-3"] == Status.PASS
    assert result.statuses(APPROVED)["ENG-7"] == Status.FAIL  # an automation is never a person


def test_state_types_and_oauth_token() -> None:
    empty = {"body": {"data": {"issues": {"nodes": [],
             "pageInfo": {"hasNextPage": False, "endCursor": None}}}}}  # fmt: skip
    routes = {ROUTE: [*_recorded()[:2], {"request": {"operationName": "Issues"}, **empty}]}
    with serve_fixtures(routes=routes) as server:
        result = run_collector(
            LinearChangesCollector,
            _params(server.url("/graphql"), team_keys=["ENG"], labels=[],
                    state_types=["completed"], token_type="oauth", window_days=30),
            now=NOW,
        )  # fmt: skip
        sent = _sent(server, "Issues")[0]["variables"]["filter"]
        auth = server.requests[0]["headers"]["Authorization"]
    assert auth == f"Bearer {KEY}"
    assert result.rows == [] and result.findings == []
    assert sent["state"] == {"type": {"in": ["completed"]}} and "labels" not in sent
    assert sent["or"][0] == {"updatedAt": {"gte": "2026-11-01T00:00:00.000Z"}}


def test_rate_limit_waits_are_bounded() -> None:
    limited = {"status": 400, "headers": {"X-RateLimit-Requests-Remaining": "0",
               "X-RateLimit-Requests-Reset": str(NOW_MS + 3_600_000)},
               "body": {"errors": [{"message": "Rate limit exceeded",
                                    "extensions": {"code": "RATELIMITED"}}]}}  # fmt: skip
    waits: list[float] = []
    with serve_fixtures(routes={ROUTE: limited}) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(LinearChangesCollector, _params(server.url("/graphql")), now=NOW,
                          sleep=waits.append, http_retries=RetryBudget(status=3,
                                                                      backoff_max=20))  # fmt: skip
        tries = len(server.requests)
    assert waits == [20.0, 20.0, 20.0]  # the reset is an hour away: each wait is capped
    assert tries == 4
    assert not info.value.permanent and info.value.kind == ErrorKind.RATE_LIMITED
    assert "Linear rate limit on Viewer: still limited after 3 retries" in str(info.value)


def test_rate_limit_longer_than_the_time_budget_is_not_waited() -> None:
    limited = {"status": 400, "headers": {"X-RateLimit-Requests-Remaining": "0",
               "X-RateLimit-Requests-Reset": str(NOW_MS + 30_000)},
               "body": {"errors": [{"message": "Rate limit exceeded",
                                    "extensions": {"type": "ratelimited"}}]}}  # fmt: skip
    waits: list[float] = []
    with serve_fixtures(routes={ROUTE: limited}) as server:
        with pytest.raises(CollectorError, match="exceeds the time budget"):
            run_collector(LinearChangesCollector, _params(server.url("/graphql")), now=NOW,
                          sleep=waits.append, time_budget=10)  # fmt: skip
    assert waits == []


@pytest.mark.parametrize("status", [400, 401])
def test_bad_key_fails_the_run_naming_the_credential(status: int) -> None:
    refused = {"status": status, "body": {"errors": [{
        "message": "Authentication required, not authenticated",
        "extensions": {"code": "AUTHENTICATION_ERROR", "type": "authentication error",
                       "userError": True,
                       "userPresentableMessage": "You need to authenticate to access this "
                       "operation."}}]}}  # fmt: skip
    with serve_fixtures(routes={ROUTE: refused}) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(LinearChangesCollector, _params(server.url("/graphql")), now=NOW)
        assert len(server.requests) == 1  # never retried
    assert info.value.permanent and info.value.kind == ErrorKind.CREDENTIALS
    message = str(info.value)
    assert message.startswith("Linear refused the api_key (You need to authenticate")
    assert "(AUTHENTICATION_ERROR)" in message and KEY not in message


def test_graphql_errors_become_clear_messages() -> None:
    invalid = {"body": {"data": None, "errors": [
        {"message": 'Variable "$keys" got invalid value 7 at "keys[0]"; String cannot '
                    "represent a non string value: 7",
         "locations": [{"line": 1, "column": 13}],
         "extensions": {"code": "GRAPHQL_VALIDATION_FAILED", "type": "graphql error"}},
        {"message": "Query too complex", "path": ["teams"],
         "extensions": {"type": "invalid input", "userPresentableMessage":
                        "The query is too complex: reduce the page size."}}]}}  # fmt: skip
    routes = {ROUTE: [_recorded()[0], {"request": {"operationName": "Teams"}, **invalid}]}
    with serve_fixtures(routes=routes) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(LinearChangesCollector, _params(server.url("/graphql")), now=NOW)
    assert info.value.permanent and info.value.kind == ErrorKind.REQUEST
    assert str(info.value) == (
        'Linear Teams: Variable "$keys" got invalid value 7 at "keys[0]"; String cannot '
        "represent a non string value: 7 (GRAPHQL_VALIDATION_FAILED); The query is too "
        "complex: reduce the page size. (invalid input) at teams"
    )


def test_a_server_error_is_transient() -> None:
    failing = {"status": 500, "body": {"errors": [{"message": "Internal server error",
               "extensions": {"type": "internal error"}}]}}  # fmt: skip
    with serve_fixtures(routes={ROUTE: failing}) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(LinearChangesCollector, _params(server.url("/graphql")), now=NOW,
                          http_retries=0)  # fmt: skip
    assert not info.value.permanent and info.value.kind == ErrorKind.SERVER
    assert str(info.value) == "Linear Viewer: HTTP 500: Internal server error (internal error)"


def test_a_next_page_without_a_cursor_is_not_a_silent_cut() -> None:
    broken = {"body": {"data": {"issues": {"nodes": [],
              "pageInfo": {"hasNextPage": True, "endCursor": None}}}}}  # fmt: skip
    routes = {ROUTE: [*_recorded()[:2], {"request": {"operationName": "Issues"}, **broken}]}
    with serve_fixtures(routes=routes) as server:
        params = _params(server.url("/graphql"), team_keys=["ENG"])
        result = run_collector(LinearChangesCollector, params, now=NOW)
    assert result.statuses(APPROVED) == {"ENG": Status.ERROR}
    assert "without a new cursor; not read to the end" in result.finding(APPROVED, "ENG").message


def test_api_key_is_only_sent_over_https() -> None:
    with pytest.raises(ParamError) as info:
        run_collector(LinearChangesCollector, _params("http://api.linear.app/graphql"),
                      allow_http_loopback=False)  # fmt: skip
    assert "api_url" in info.value.errors


def test_team_keys_are_required() -> None:
    with pytest.raises(ParamError) as info:
        run_collector(LinearChangesCollector, {"api_key": KEY})
    assert "team_keys" in info.value.errors


def test_history_events_split_states_and_labels() -> None:
    entries = [
        {"createdAt": "2026-11-02T10:00:00.000Z", "actor": None, "toState": {"name": "Done",
         "type": "completed"}, "fromState": None, "addedLabels": [{"name": "Approved"}]},
        {"createdAt": "2026-11-02T09:00:00.000Z", "actor": {"id": "u1", "email": "a@x.example"},
         "toState": None, "fromState": None, "addedLabels": None, "removedLabels": None},
    ]  # fmt: skip
    states, labels = history_events(entries)
    assert states == [
        {
            "at": "2026-11-02T10:00:00.000000Z",
            "by": None,
            "by_id": None,
            "from": None,
            "to": "Done",
            "from_type": None,
            "to_type": "completed",
        }
    ]
    assert labels == [{"at": "2026-11-02T10:00:00.000000Z", "by": None, "by_id": None,
                       "added": ["Approved"], "removed": []}]  # fmt: skip
