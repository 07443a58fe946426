"""``jira_changes`` against hand-written Jira Cloud REST v3 responses served on 127.0.0.1."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, ParamError, Status
from collectors.jira.jira_changes import JiraChangesCollector, status_transitions
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jira_changes"
TOKEN = "ATATT3xFfGF0scrubbedJiraTokenValue0123456789"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
APPROVED = "jira_changes.approved_before_done"
WORKFLOW = "jira_changes.followed_required_workflow"


def _params(base_url: str, **extra: object) -> dict[str, object]:
    return {
        "base_url": base_url,
        "email": "audit-reader@acme.example",
        "api_token": TOKEN,
        "project": "CHG",
        "issue_types": ["Change"],
        "approvers_field": "customfield_10003",
        **extra,
    }


def test_collector_is_conformant() -> None:
    assert lint_collector(JiraChangesCollector) == []


def test_change_tickets_of_a_project() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(JiraChangesCollector, _params(server.base_url), now=NOW,
                               sleep=waits.append)  # fmt: skip
        searches = [r for r in server.requests if r["path"].startswith("/rest/api/3/search")]
        auth = searches[0]["headers"]["Authorization"]
    assert waits == [2.0]  # 429 with Retry-After: 2, then the page
    assert len(searches) == 3  # the 429, page 1, page 2 (with nextPageToken)
    expected = base64.b64encode(f"audit-reader@acme.example:{TOKEN}".encode()).decode()
    assert auth == f"Basic {expected}"
    assert "jql=project+%3D+%22CHG%22+AND+issuetype+in+%28%22Change%22%29" in searches[1]["path"]
    assert [r["key"] for r in result.rows] == [f"CHG-{n}" for n in range(1, 7)]
    first = result.rows[0]
    assert first["status"] == "Done" and first["assignee"] == "Alice Martin"
    assert first["approvers"] == ["Bob Chen"]
    assert first["url"] == f"{server.base_url}/browse/CHG-1"
    assert [(m["to"], m["by"]) for m in first["transitions"]] == [
        ("In Review", "Alice Martin"), ("Approved", "Bob Chen"), ("Done", "Alice Martin"),
    ]  # fmt: skip
    assert first["created"] == "2026-11-02T09:00:00.000000Z"
    assert result.rows[2]["transitions"][1]["at"] == "2026-11-08T10:30:00.000000Z"  # +0100
    assert result.rows[3]["resolved"] is None
    assert len(result.rows[4]["transitions"]) == 3  # read from /changelog over two pages
    assert "changelog: HTTP 403" in result.rows[5]["read_error"]
    assert "permission to see the specified issue" in result.rows[5]["read_error"]
    assert result.statuses(APPROVED) == {
        "CHG-1": Status.PASS,
        "CHG-2": Status.FAIL,
        "CHG-3": Status.FAIL,
        "CHG-5": Status.PASS,
        "CHG-6": Status.ERROR,
    }  # CHG-4 is not done: not applicable
    assert "after it was done" in result.finding(APPROVED, "CHG-2").message
    assert "only by its assignee Alice Martin" in result.finding(APPROVED, "CHG-3").message
    assert result.statuses(WORKFLOW) == {
        "CHG-1": Status.PASS,
        "CHG-2": Status.FAIL,
        "CHG-3": Status.PASS,
        "CHG-5": Status.PASS,
        "CHG-6": Status.ERROR,
    }
    assert "without passing through Approved" in result.finding(WORKFLOW, "CHG-2").message
    assert result.identity == "jira:audit-reader@acme.example"
    assert "jira:getChangeLogs" in result.api_calls
    assert TOKEN not in str(result.rows) and expected not in str(result.findings)


def test_thresholds_describe_the_workflow() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            JiraChangesCollector,
            _params(server.base_url),
            now=NOW,
            sleep=lambda seconds: None,
            thresholds={
                APPROVED: {"independent": False},
                WORKFLOW: {"required_statuses": ["In Review"], "done_statuses": ["done"]},
            },
        )
    assert result.statuses(APPROVED)["CHG-3"] == Status.PASS  # self-approval allowed
    assert result.statuses(WORKFLOW)["CHG-2"] == Status.PASS


def test_jql_is_used_as_written() -> None:
    jql = "project = OPS AND labels = change ORDER BY created DESC"
    page = {"body": {"issues": [], "isLast": True}}
    with serve_fixtures(FIXTURES, routes={"GET /rest/api/3/search/jql": page}) as server:
        result = run_collector(
            JiraChangesCollector,
            _params(server.base_url, project=None, jql=jql, approvers_field=None),
            now=NOW,
        )
        path = [r["path"] for r in server.requests if "search" in r["path"]][0]
    assert result.rows == []
    assert "jql=project+%3D+OPS+AND+labels+%3D+change+ORDER+BY+created+DESC" in path
    assert "customfield" not in path


def test_project_or_jql_exactly() -> None:
    with serve_fixtures(FIXTURES) as server:
        for extra in ({"project": None}, {"jql": "project = CHG"}):
            with pytest.raises(CollectorError, match="either project") as info:
                run_collector(JiraChangesCollector, _params(server.base_url, **extra), now=NOW)
            assert info.value.permanent
        assert server.requests == []  # refused before any call


def test_unknown_project_shows_jiras_message() -> None:
    refused = {"status": 400, "body": {
        "errorMessages": ["The value 'CHG' does not exist for the field 'project'."],
        "errors": {}}}  # fmt: skip
    with serve_fixtures(FIXTURES, routes={"GET /rest/api/3/search/jql": refused}) as server:
        with pytest.raises(CollectorError, match="does not exist for the field 'project'"):
            run_collector(JiraChangesCollector, _params(server.base_url), now=NOW)


def test_bad_token_fails_the_run() -> None:
    denied = {"status": 401, "body": {"errorMessages": ["Unauthorized"]}}
    with serve_fixtures(FIXTURES, routes={"GET /rest/api/3/myself": denied}) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(JiraChangesCollector, _params(server.base_url), now=NOW)
    assert info.value.permanent


def test_token_is_only_sent_over_https() -> None:
    with pytest.raises(ParamError) as info:
        run_collector(JiraChangesCollector, _params("http://acme.atlassian.net"),
                      allow_http_loopback=False)  # fmt: skip
    assert "base_url" in info.value.errors


def test_status_transitions_ignore_other_fields() -> None:
    histories = [
        {"created": "2026-11-02T10:00:00.000-0500", "author": {"accountId": "a1"},
         "items": [{"field": "priority", "fromString": "Low", "toString": "High"},
                   {"field": "status", "fromString": "To Do", "toString": "Done"}]},
    ]  # fmt: skip
    assert status_transitions(histories) == [
        {"at": "2026-11-02T15:00:00.000000Z", "by": "a1", "from": "To Do", "to": "Done"}
    ]
