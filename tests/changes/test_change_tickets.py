"""The change-ticket join over real evidence: ``github_pull_requests``, ``jira_changes`` and
``linear_changes`` collected by the real runner from the recorded fixtures (served on
127.0.0.1), the join run by the post-ingest hook's job, the result appended to the chain and
merged into current state.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from collectors.testing import serve_fixtures
from pixaudit.auditlog.models import AuditEvent
from pixaudit.changes.services import TICKET_POPULATIONS, change_tickets_refresh
from pixaudit.controls.models import CheckMapping
from pixaudit.evidence import selectors_artifacts
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import Connection, EvidenceItem, Finding, LatestResult
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.storage import artifact_read
from tests.reviews.fixtures import catalogs, media_root  # noqa: F401

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parents[1] / "collectors" / "fixtures"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
IN_POPULATION = "change_tickets.ticket_in_population"
APPROVED = "change_tickets.ticket_approved"
PUSH = "acme-corp/api@dd01eeeeeeee"


def _github_routes(branch_102: str | None = None, body_7: str | None = None,
                   title_102: str | None = None) -> dict:  # fmt: skip
    """The recorded organisation, without the secondary rate limit (the runner really
    sleeps) and with mallory's direct push citing OPS-9 in its commit message; optionally
    api#102 merged from ``branch_102`` (recorded: carol/retries, no key) or titled
    ``title_102`` (recorded: "Tune retries"), and web#7 with the body ``body_7`` (recorded:
    "See web-12 and WEB-12")."""
    routes = json.loads((FIXTURES / "github_pull_requests" / "routes.json").read_text())
    web = routes["GET /repos/acme-corp/web/pulls"]
    events = copy.deepcopy(routes["GET /repos/acme-corp/api/events"])
    for event in events["body"]:
        for commit in (event.get("payload") or {}).get("commits") or ():
            if commit["sha"].startswith("dd01"):
                commit["message"] = "hotfix: raise the payment timeout (OPS-9)"
    changed = {"GET /repos/acme-corp/web/pulls": web[-1], "GET /repos/acme-corp/api/events": events}
    if branch_102 or title_102:
        for route in ("GET /repos/acme-corp/api/pulls", "GET /repos/acme-corp/api/pulls/102"):
            answer = changed[route] = copy.deepcopy(routes[route])
            pulls = answer["body"] if isinstance(answer["body"], list) else [answer["body"]]
            for pull in pulls:
                if pull["number"] == 102:
                    pull["head"]["ref"] = branch_102 or pull["head"]["ref"]
                    pull["title"] = title_102 or pull["title"]
    if body_7 is not None:
        answer = changed["GET /repos/acme-corp/web/pulls/7"] = copy.deepcopy(
            routes["GET /repos/acme-corp/web/pulls/7"]
        )
        answer["body"]["body"] = body_7
    return changed


def _jira_page(tickets: dict[str, str]) -> dict:
    """One search page: recorded issues renamed (``{"PAY-12": "CHG-1"}``: PAY-12 gets the
    history of CHG-1, approved before done; CHG-2: approved after done; CHG-4: not done)."""
    routes = json.loads((FIXTURES / "jira_changes" / "routes.json").read_text())
    recorded = {i["key"]: i for i in routes["GET /rest/api/3/search/jql"][1]["body"]["issues"]}
    issues = []
    for key, like in tickets.items():
        issue = copy.deepcopy(recorded[like])
        issue["key"] = key
        issues.append(issue)
    return {"body": {"issues": issues, "isLast": True}}


_ON_COMMIT: list = []


@pytest.fixture(autouse=True)
def _on_commit(django_capture_on_commit_callbacks):
    """django-rq enqueues on commit: the hook's job runs when the test's "commit" does."""
    _ON_COMMIT.append(django_capture_on_commit_callbacks)
    yield
    _ON_COMMIT.clear()


def _collect(conn: Connection) -> EvidenceItem:
    with _ON_COMMIT[0](execute=True):
        run = collection_run_execute(run_id=collection_run_create(connection=conn,
                                                                  trigger="manual").pk)  # fmt: skip
    assert run.status == "succeeded", run.error_message
    return run.result.evidence


def _github(name: str, routes: dict | None = None, thresholds: dict | None = None,
            **params: object) -> EvidenceItem:  # fmt: skip
    routes = routes or _github_routes()
    with serve_fixtures(FIXTURES / "github_pull_requests", routes=routes) as server:
        conn = Connection.objects.filter(name=name).first() or connection_create(
            name=name, collector_key="github_pull_requests",
            params={"org": "acme-corp", "token": "ghp_scrubbedTokenValue0123456789abcdef",
                    "base_url": server.base_url, **params},
            thresholds=thresholds,
        )  # fmt: skip
        conn.params["base_url"] = server.base_url
        conn.save(update_fields=["params"])
        return _collect(conn)


def _jira(tickets: dict[str, str], name: str = "Jira") -> EvidenceItem:
    route = {"GET /rest/api/3/search/jql": _jira_page(tickets)}
    with serve_fixtures(FIXTURES / "jira_changes", routes=route) as server:
        conn = Connection.objects.filter(name=name).first() or connection_create(
            name=name, collector_key="jira_changes",
            params={"base_url": server.base_url, "email": "audit-reader@acme.example",
                    "api_token": "ATATT3xFfGF0scrubbedJiraTokenValue0123456789",
                    "jql": "key in (PAY-12, SEC-3, OPS-9, WEB-12)"},
        )  # fmt: skip
        conn.params["base_url"] = server.base_url
        conn.save(update_fields=["params"])
        return _collect(conn)


def _linear(name: str = "Linear", **params: object) -> EvidenceItem:
    """``linear_changes`` of team ENG over its recorded answers (ENG-1 and ENG-5 approved
    before done, ENG-2 after, ENG-3 by its assignee, ENG-4 not done, ENG-6 unreadable,
    ENG-7 by an automation), without the rate-limited first try (the runner really sleeps)."""
    recorded = json.loads((FIXTURES / "linear_changes" / "routes.json").read_text())
    answers = [a for a in recorded["POST /graphql"] if a.get("status") != 400]
    with serve_fixtures(FIXTURES / "linear_changes", routes={"POST /graphql": answers}) as server:
        conn = Connection.objects.filter(name=name).first() or connection_create(
            name=name, collector_key="linear_changes",
            params={"api_url": server.url("/graphql"), "team_keys": ["ENG"],
                    "api_key": "lin_api_scrubbedLinearPersonalKey0123456789abcdef", **params},
        )  # fmt: skip
        conn.params["api_url"] = server.url("/graphql")
        conn.save(update_fields=["params"])
        return _collect(conn)


def _latest_join() -> EvidenceItem:
    return EvidenceItem.objects.filter(collector_key="change_tickets").order_by("-seq").first()


def _verdicts(item: EvidenceItem, assertion_id: str) -> dict[str, str]:
    return dict(Finding.objects.filter(evidence=item, assertion_id=assertion_id)
                .values_list("resource", "status"))  # fmt: skip


def _message(item: EvidenceItem, assertion_id: str, resource: str) -> str:
    return Finding.objects.get(evidence=item, assertion_id=assertion_id, resource=resource).message


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=True):
        yield


def test_population_is_declared_in_one_line() -> None:
    assert TICKET_POPULATIONS["jira_changes"].key_column == "key"
    assert TICKET_POPULATIONS["jira_changes"].approval_assertion == (
        "jira_changes.approved_before_done"
    )
    assert TICKET_POPULATIONS["linear_changes"].key_column == "key"
    assert TICKET_POPULATIONS["linear_changes"].approval_assertion == (
        "linear_changes.approved_before_done"
    )


def test_linear_and_jira_keys_in_one_organisation(media_root, catalogs, at_now) -> None:  # noqa: F811
    """api#102 is merged from carol/ENG-1-tune-retries and web#7 cites ENG-2 and WEB-12: the
    Linear keys are judged by linear_changes, the Jira keys by jira_changes, in one join."""
    routes = _github_routes(branch_102="carol/ENG-1-tune-retries", body_7="See ENG-2, WEB-12")
    github = _github("GitHub", routes=routes)
    jira = _jira({"PAY-12": "CHG-1", "SEC-3": "CHG-2", "OPS-9": "CHG-4"})
    before = _latest_join()
    assert before.seq == jira.seq + 1
    unseen = _message(before, IN_POPULATION, "acme-corp/api#102")
    assert _verdicts(before, IN_POPULATION)["acme-corp/api#102"] == "warn"
    assert "ENG-1 not seen in the ticket population" in unseen
    assert "key in (ENG-1)" in unseen  # the jira_changes hint, then the linear_changes one
    assert "a linear_changes connection whose team_keys include the issue's team (ENG)" in unseen
    assert "window_days" in unseen

    # The Linear population arrives: the post-ingest hook runs the join again.
    linear = _linear()
    item = _latest_join()
    assert item.seq == linear.seq + 1
    assert _verdicts(item, IN_POPULATION) == {
        "acme-corp/api#101": "pass", "acme-corp/api#102": "pass", "acme-corp/api#104": "pass",
        PUSH: "pass", "acme-corp/web#7": "pass",
    }  # fmt: skip
    assert _verdicts(item, APPROVED) == {
        "acme-corp/api#101": "pass",  # PAY-12, Jira: approved before done
        "acme-corp/api#102": "pass",  # ENG-1, Linear: moved to Approved by Bob before Done
        "acme-corp/api#104": "fail",  # SEC-3, Jira: approved after done
        PUSH: "warn",  # OPS-9, Jira: not done
        "acme-corp/web#7": "fail",  # ENG-2, Linear: the Approved label came after Done
    }
    approved = _message(item, APPROVED, "acme-corp/api#102")
    assert "ENG-1 approved (state Approved) by Bob Chen" in approved
    assert f"(linear_changes seq {linear.seq})" in approved
    late = _message(item, APPROVED, "acme-corp/web#7")
    assert "after it was done" in late and f"linear_changes seq {linear.seq}" in late
    assert "not seen: WEB-12" in _message(item, IN_POPULATION, "acme-corp/web#7")
    assert f"linear_changes seq {linear.seq}" in _message(item, IN_POPULATION, "acme-corp/api#102")
    rows = {r["change"]: r for r in json.loads(artifact_read(item.artifact_path))["rows"]}
    assert rows["acme-corp/api#102"]["cited_keys"] == ["ENG-1"]
    assert rows["acme-corp/api#102"]["approval"]["ENG-1"]["collector"] == "linear_changes"
    assert rows["acme-corp/api#101"]["approval"]["PAY-12"]["collector"] == "jira_changes"
    assert rows["acme-corp/web#7"]["keys_seen"] == ["ENG-2"]
    assert rows["acme-corp/web#7"]["ticket_populations"] == ["jira_changes", "linear_changes"]
    assert rows["acme-corp/web#7"]["ticket_evidence"] == [
        f"jira_changes seq {jira.seq}", f"linear_changes seq {linear.seq}"]  # fmt: skip
    assert [(d["collector"], d["seq"], d["sha256"]) for d in item.provenance["derived_from"]] == [
        ("github_pull_requests", github.seq, github.sha256),
        ("jira_changes", jira.seq, jira.sha256),
        ("linear_changes", linear.seq, linear.sha256),
    ]
    assert verify_chain().ok


def test_linear_alone_is_a_ticket_population(media_root, catalogs, at_now) -> None:  # noqa: F811
    """Without Jira, Linear evidence is enough: Jira-style keys are simply not seen."""
    _linear()
    assert _latest_join() is None  # tickets alone: nothing to join
    _github("GitHub", routes=_github_routes(branch_102="carol/ENG-5-tune-retries"))
    item = _latest_join()
    assert _verdicts(item, APPROVED)["acme-corp/api#102"] == "pass"  # ENG-5 (three pages)
    assert _verdicts(item, IN_POPULATION)["acme-corp/api#101"] == "warn"  # PAY-12, OPS-7
    hint = _message(item, IN_POPULATION, "acme-corp/api#101")
    assert "team_keys include the issue's team (OPS, PAY)" in hint


def test_each_ingest_recomputes_the_join(media_root, catalogs, at_now) -> None:  # noqa: F811
    # Pull requests first: no ticket population yet, so nothing can pass.
    github = _github("GitHub")
    first = _latest_join()
    assert first is not None and first.seq == github.seq + 1  # the hook's job ran
    assert set(_verdicts(first, IN_POPULATION).values()) == {"error"}
    assert set(_verdicts(first, APPROVED).values()) == {"error"}
    assert "No ticket population evidence (jira_changes or linear_changes)" in _message(
        first, APPROVED, "acme-corp/api#101"
    )

    # The ticket population arrives: the job runs again after its ingest.
    jira = _jira({"PAY-12": "CHG-1", "SEC-3": "CHG-2", "OPS-9": "CHG-4"})
    second = _latest_join()
    assert second.seq == jira.seq + 1
    assert _verdicts(second, IN_POPULATION) == {
        "acme-corp/api#101": "pass",  # PAY-12 seen (OPS-7 not)
        "acme-corp/api#102": "fail",  # cites no key
        "acme-corp/api#104": "pass",  # SEC-3
        PUSH: "pass",  # the direct push cites OPS-9 in its commit message
        "acme-corp/web#7": "warn",  # WEB-12 not seen
    }
    assert _verdicts(second, APPROVED) == {
        "acme-corp/api#101": "pass",
        "acme-corp/api#102": "fail",  # no ticket: no approval can be shown
        "acme-corp/api#104": "fail",  # approved after it was done
        PUSH: "warn",  # OPS-9 is not done: no verdict yet
        "acme-corp/web#7": "warn",  # not seen: not checked
    }
    assert "not seen: OPS-7" in _message(second, IN_POPULATION, "acme-corp/api#101")
    unseen = _message(second, IN_POPULATION, "acme-corp/web#7")
    assert "WEB-12 not seen in the ticket population" in unseen
    assert "does not mean the ticket does not exist" in unseen
    assert "key in (WEB-12)" in unseen and f"jira_changes seq {jira.seq}" in unseen
    assert "after it was done" in _message(second, APPROVED, "acme-corp/api#104")

    # Rows and provenance: an auditor can redo the join from the cited items.
    document = json.loads(artifact_read(second.artifact_path))
    rows = {r["change"]: r for r in document["rows"]}
    assert rows["acme-corp/api#101"]["cited_keys"] == ["OPS-7", "PAY-12"]
    assert rows["acme-corp/api#101"]["keys_seen"] == ["PAY-12"]
    assert rows["acme-corp/api#101"]["keys_approved"] == ["PAY-12"]
    assert rows["acme-corp/api#101"]["approval"]["PAY-12"]["seq"] == jira.seq
    assert rows[PUSH]["change_type"] == "direct_push"
    assert rows[PUSH]["approval"]["OPS-9"]["status"] == "not_judged"
    assert rows[PUSH]["source_seq"] == github.seq
    derived = second.provenance["derived_from"]
    assert [(d["collector"], d["seq"], d["sha256"]) for d in derived] == [
        ("github_pull_requests", github.seq, github.sha256),
        ("jira_changes", jira.seq, jira.sha256),
    ]
    assert document["derived_from"] == derived

    # A new ticket collection changes the verdict: WEB-12 is now seen and approved.
    _jira({"PAY-12": "CHG-1", "SEC-3": "CHG-2", "OPS-9": "CHG-4", "WEB-12": "CHG-1"})
    third = _latest_join()
    assert _verdicts(third, IN_POPULATION)["acme-corp/web#7"] == "pass"
    assert _verdicts(third, APPROVED)["acme-corp/web#7"] == "pass"
    current = dict(LatestResult.objects.filter(collector_key="change_tickets",
                                               assertion_id=IN_POPULATION)
                   .values_list("resource", "status"))  # fmt: skip
    assert current["acme-corp/web#7"] == "pass" and current["acme-corp/api#102"] == "fail"
    assert AuditEvent.objects.filter(action="changes.tickets_checked").count() == 3
    mapped = set(CheckMapping.objects.filter(assertion_id__startswith="change_tickets.")
                 .values_list("control__framework__key", "control__ref"))  # fmt: skip
    assert mapped == {("soc2-2017", "CC8.1"), ("iso27001-2022", "A.8.32")}
    assert verify_chain().ok


def test_two_github_connections_and_a_change_leaving_the_window(media_root, catalogs,  # noqa: F811
                                                                at_now) -> None:  # fmt: skip
    jira = _jira({"PAY-12": "CHG-1", "WEB-12": "CHG-2"})
    api = _github("GitHub api", repositories=["api"])
    web = _github("GitHub web", repositories=["web"])
    item = _latest_join()
    assert _verdicts(item, IN_POPULATION) == {
        "acme-corp/api#101": "pass", "acme-corp/api#102": "fail", "acme-corp/api#104": "warn",
        PUSH: "warn", "acme-corp/web#7": "pass",
    }  # fmt: skip
    assert _verdicts(item, APPROVED) == {
        "acme-corp/api#101": "pass", "acme-corp/api#102": "fail", "acme-corp/api#104": "warn",
        PUSH: "warn", "acme-corp/web#7": "fail",
    }  # fmt: skip
    rows = {r["change"]: r for r in json.loads(artifact_read(item.artifact_path))["rows"]}
    assert rows["acme-corp/api#101"]["source_seq"] == api.seq
    assert rows["acme-corp/web#7"]["source_seq"] == web.seq
    assert {d["seq"] for d in item.provenance["derived_from"]} == {api.seq, web.seq, jira.seq}

    # A two-day window drops every api change (merged before it): the open verdicts are
    # closed once, with a PASS that says why; #101 was passing and is left as it was.
    conn = Connection.objects.get(name="GitHub api")
    conn.params["window_days"] = 2
    conn.save(update_fields=["params"])
    _github("GitHub api")
    later = _latest_join()
    closing = _message(later, IN_POPULATION, "acme-corp/api#104")
    assert "no longer in the change population" in closing
    assert _verdicts(later, IN_POPULATION) == {
        "acme-corp/api#102": "pass", "acme-corp/api#104": "pass", PUSH: "pass",
        "acme-corp/web#7": "pass",
    }  # fmt: skip
    assert later.row_count == 1
    assert len(json.loads(artifact_read(later.artifact_path))["findings_resolving_earlier"]) == 6
    again = change_tickets_refresh(reason="test")
    assert set(_verdicts(again, IN_POPULATION)) == {"acme-corp/web#7"}  # closed once only


def test_the_daily_command_and_nothing_to_join(media_root, catalogs, at_now,  # noqa: F811
                                               capsys) -> None:  # fmt: skip
    call_command("change_tickets_check")
    assert "Nothing to check" in capsys.readouterr().out
    assert _latest_join() is None
    _jira({"PAY-12": "CHG-1"})
    assert _latest_join() is None  # tickets alone: nothing to join
    _github("GitHub")
    call_command("change_tickets_check")
    out = capsys.readouterr().out
    item = _latest_join()
    counts = Counter(item.findings.values_list("status", flat=True))
    assert f"evidence #{item.seq}: 5 changes" in out
    assert f"{counts['pass']} pass" in out


def test_artifact_rows_are_streamed_and_checked(media_root, catalogs, at_now,  # noqa: F811
                                                monkeypatch) -> None:  # fmt: skip
    item = _github("GitHub")
    monkeypatch.setattr(
        selectors_artifacts,
        "artifact_chunks",
        lambda path: iter(
            [artifact_read(path)[i : i + 7] for i in range(0, len(artifact_read(path)), 7)]
        ),
    )
    rows = list(selectors_artifacts.artifact_rows(item, ("pull_request", "issue_keys")))
    assert rows[0] == {"pull_request": "acme-corp/api#101", "issue_keys": ["OPS-7", "PAY-12"]}
    assert len(rows) == item.row_count
    bad = EvidenceItem(seq=item.seq, artifact_path=item.artifact_path, sha256="0" * 64)
    with pytest.raises(selectors_artifacts.ArtifactUnreadable, match="does not match its SHA-256"):
        list(selectors_artifacts.artifact_rows(bad, ("pull_request",)))


def test_lower_case_linear_branch_of_a_configured_team(media_root, catalogs, at_now) -> None:  # noqa: F811
    """Linear's suggested branch carol/eng-1-tune-retries cites ENG-1 when the GitHub
    connection's ticket_projects include ENG: the runner gives the thresholds to collect,
    issue_keys records ENG-1 and the join judges it by linear_changes."""
    _linear()
    routes = _github_routes(branch_102="carol/eng-1-tune-retries")
    plain = _github("GitHub plain", routes=routes, repositories=["api"])
    assert _verdicts(plain, "github_pull_requests.cites_a_ticket")["acme-corp/api#102"] == "fail"
    assert _verdicts(_latest_join(), IN_POPULATION)["acme-corp/api#102"] == "fail"  # no key

    projects = {"github_pull_requests.cites_a_ticket": {"ticket_projects": ["ENG", "PAY"]}}
    configured = _github("GitHub", routes=routes, thresholds=projects, repositories=["api"])
    assert _verdicts(configured, "github_pull_requests.cites_a_ticket")["acme-corp/api#102"] == (
        "pass"
    )
    rows = {
        r["pull_request"]: r for r in json.loads(artifact_read(configured.artifact_path))["rows"]
    }
    assert rows["acme-corp/api#102"]["issue_keys"] == ["ENG-1"]
    item = _latest_join()  # the more recent connection's row of api#102 is kept
    assert _verdicts(item, IN_POPULATION)["acme-corp/api#102"] == "pass"
    assert _verdicts(item, APPROVED)["acme-corp/api#102"] == "pass"
    joined = {r["change"]: r for r in json.loads(artifact_read(item.artifact_path))["rows"]}
    assert joined["acme-corp/api#102"]["cited_keys"] == ["ENG-1"]
    assert joined["acme-corp/api#102"]["source_seq"] == configured.seq
    assert joined["acme-corp/api#102"]["approval"]["ENG-1"]["collector"] == "linear_changes"


def test_lower_case_title_key_of_a_configured_project(media_root, catalogs, at_now) -> None:  # noqa: F811
    """github_pull_requests v4: api#102 titled "ops-21: tune retries ..." (branch
    carol/retries, empty body) cites OPS-21 when the connection's ticket_projects include
    OPS, and the join finds it in jira_changes; utf-8 and sha-256 in the same title are no
    keys, and web#7's "See web-12 and WEB-12" cites WEB-12 once."""
    _jira({"PAY-12": "CHG-1", "OPS-21": "CHG-1", "WEB-12": "CHG-1"})
    routes = _github_routes(title_102="ops-21: tune retries (utf-8 logs, sha-256 digests)")
    plain = _github("GitHub plain", routes=routes)
    assert _verdicts(plain, "github_pull_requests.cites_a_ticket")["acme-corp/api#102"] == "fail"
    assert _verdicts(_latest_join(), IN_POPULATION)["acme-corp/api#102"] == "fail"  # no key

    projects = {"github_pull_requests.cites_a_ticket": {"ticket_projects": ["OPS", "PAY", "WEB"]}}
    configured = _github("GitHub", routes=routes, thresholds=projects)
    assert configured.collector_version == 4
    cites = _verdicts(configured, "github_pull_requests.cites_a_ticket")
    assert cites["acme-corp/api#102"] == "pass"
    rows = {
        r["pull_request"]: r for r in json.loads(artifact_read(configured.artifact_path))["rows"]
    }
    assert rows["acme-corp/api#102"]["head_branch"] == "carol/retries"  # the title alone
    assert rows["acme-corp/api#102"]["issue_keys"] == ["OPS-21"]
    assert rows["acme-corp/web#7"]["issue_keys"] == ["WEB-12"]
    item = _latest_join()  # the more recent connection's rows are kept
    assert _verdicts(item, IN_POPULATION)["acme-corp/api#102"] == "pass"
    assert _verdicts(item, APPROVED)["acme-corp/api#102"] == "pass"
    joined = {r["change"]: r for r in json.loads(artifact_read(item.artifact_path))["rows"]}
    assert joined["acme-corp/api#102"]["cited_keys"] == ["OPS-21"]
    assert joined["acme-corp/api#102"]["source_seq"] == configured.seq
    assert joined["acme-corp/api#102"]["approval"]["OPS-21"]["collector"] == "jira_changes"
    assert joined["acme-corp/web#7"]["cited_keys"] == ["WEB-12"]
    assert _verdicts(item, APPROVED)["acme-corp/web#7"] == "pass"
