"""The platform-derived collector ``change_tickets``: its two checks over hand-made rows.

The join that builds the rows is tested with real evidence in tests/changes/.
"""

from __future__ import annotations

import pytest

from collectors import CollectorError, Status
from collectors.change.change_tickets import ChangeTicketsCollector
from collectors.evaluate import evaluate_assertions
from collectors.lint import lint_collector
from collectors.schema import coerce_rows
from collectors.testing import run_collector

IN_POPULATION = "change_tickets.ticket_in_population"
APPROVED = "change_tickets.ticket_approved"
BASE = {"change": "acme/api#1", "change_type": "pull_request", "repository": "acme/api",
        "merged_at": "2026-11-28T11:59:00Z", "source_seq": 4,
        "ticket_populations": ["jira_changes"],
        "ticket_evidence": ["jira_changes seq 7"]}  # fmt: skip


def _verdict(key: str, status: str, message: str = "") -> dict:
    return {key: {"status": status, "message": message or f"{key} {status}",
                  "collector": "jira_changes", "seq": 7}}  # fmt: skip


ROWS = [
    {**BASE, "cited_keys": ["CHG-1", "OPS-7"], "keys_seen": ["CHG-1"], "keys_approved": ["CHG-1"],
     "approval": _verdict("CHG-1", "pass", "CHG-1 approved (Approved) by Bob")},
    {**BASE, "change": "acme/api#2", "cited_keys": ["CHG-2"], "keys_seen": ["CHG-2"],
     "keys_approved": [], "approval": _verdict("CHG-2", "fail", "CHG-2 was done without")},
    {**BASE, "change": "acme/api#3", "cited_keys": ["WEB-12"], "keys_seen": [],
     "keys_approved": [], "approval": {}},
    {**BASE, "change": "acme/api#4", "cited_keys": [], "keys_seen": [], "keys_approved": [],
     "approval": {}},
    {**BASE, "change": "acme/api@dd01eeeeeeee", "change_type": "direct_push",
     "cited_keys": ["CHG-4"], "keys_seen": ["CHG-4"], "keys_approved": [],
     "approval": _verdict("CHG-4", "not_judged", "")},
    {**BASE, "change": "acme/api#6", "cited_keys": ["CHG-6"], "keys_seen": ["CHG-6"],
     "keys_approved": [], "approval": _verdict("CHG-6", "error", "history unreadable")},
]  # fmt: skip


def _findings(rows: list[dict]) -> dict[str, dict[str, object]]:
    findings = evaluate_assertions(
        ChangeTicketsCollector, coerce_rows(ChangeTicketsCollector.columns, rows), []
    )
    out: dict[str, dict[str, object]] = {}
    for f in findings:
        out.setdefault(f.assertion_id, {})[f.resource] = f
    return out


def test_collector_is_conformant() -> None:
    assert lint_collector(ChangeTicketsCollector) == []
    assert {"soc2-2017:CC8.1", "iso27001-2022:A.8.32"} <= set(ChangeTicketsCollector.controls())


def test_seen_approved_not_seen_and_uncited() -> None:
    found = _findings(ROWS)
    assert {r: f.status for r, f in found[IN_POPULATION].items()} == {
        "acme/api#1": Status.PASS, "acme/api#2": Status.PASS, "acme/api#3": Status.WARN,
        "acme/api#4": Status.FAIL, "acme/api@dd01eeeeeeee": Status.PASS, "acme/api#6": Status.PASS,
    }  # fmt: skip
    assert "not seen: OPS-7" in found[IN_POPULATION]["acme/api#1"].message
    warn = found[IN_POPULATION]["acme/api#3"].message
    assert "does not mean the ticket does not exist" in warn
    assert "key in (WEB-12)" in warn and "jira_changes seq 7" in warn
    assert "cites no ticket key" in found[IN_POPULATION]["acme/api#4"].message
    assert {r: f.status for r, f in found[APPROVED].items()} == {
        "acme/api#1": Status.PASS,
        "acme/api#2": Status.FAIL,
        "acme/api#3": Status.WARN,  # not seen: not checked
        "acme/api#4": Status.FAIL,  # no key: no approval can be shown
        "acme/api@dd01eeeeeeee": Status.WARN,
        "acme/api#6": Status.ERROR,
    }
    assert "approved (Approved) by Bob" in found[APPROVED]["acme/api#1"].message
    assert "no approval verdict yet" in found[APPROVED]["acme/api@dd01eeeeeeee"].message
    assert "Approval not checked: WEB-12 not seen" in found[APPROVED]["acme/api#3"].message


def test_without_ticket_evidence_both_checks_are_errors() -> None:
    rows = [{**row, "ticket_evidence": [], "keys_seen": None, "keys_approved": None,
             "approval": None} for row in ROWS]  # fmt: skip
    found = _findings(rows)
    for assertion_id in (IN_POPULATION, APPROVED):
        assert {f.status for f in found[assertion_id].values()} == {Status.ERROR}
        assert len(found[assertion_id]) == len(ROWS)
    message = found[APPROVED]["acme/api#1"].message
    assert message.startswith("No ticket population evidence (jira_changes): whether the cited "
                              "tickets (CHG-1, OPS-7) exist")  # fmt: skip
    both = {**rows[0], "ticket_populations": ["jira_changes", "linear_changes"]}
    message = _findings([both])[IN_POPULATION]["acme/api#1"].message
    assert message.startswith("No ticket population evidence (jira_changes or linear_changes):")
    assert message.endswith("Collect a ticket population (jira_changes or linear_changes).")


def test_each_population_says_how_to_make_a_ticket_seen() -> None:
    row = {**ROWS[2], "cited_keys": ["ENG-42", "WEB-12", "ENG-7"],
           "ticket_populations": ["jira_changes", "linear_changes"]}  # fmt: skip
    message = _findings([row])[IN_POPULATION]["acme/api#3"].message
    assert "key in (ENG-42, WEB-12, ENG-7)" in message
    assert (
        "; or a linear_changes connection whose team_keys include the issue's team (ENG, WEB)"
        in (message)
    )
    assert "window_days long enough to reach the issue's last update" in message


def test_a_population_without_a_hint_gets_the_generic_sentence() -> None:
    row = {**ROWS[2], "ticket_populations": ["jira_changes", "youtrack_changes"]}
    message = _findings([row])[IN_POPULATION]["acme/api#3"].message
    assert "key in (WEB-12)" in message and "a youtrack_changes connection that reads it" in message


def test_collect_fails_permanently_and_says_where_rows_come_from() -> None:
    with pytest.raises(CollectorError) as caught:
        run_collector(ChangeTicketsCollector)
    assert caught.value.permanent
    assert "derived by pixaudit" in str(caught.value)
