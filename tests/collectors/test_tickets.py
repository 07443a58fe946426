"""The checks shared by the change-ticket collectors (``collectors/_tickets.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors import Status
from collectors._tickets import TicketWorkflow, approval_outcome, first_done, parse_time

JIRA = TicketWorkflow(done_move="to", done_current="status", done_since=("created",),
                      approver="by", assignee="assignee")  # fmt: skip
LINEAR = TicketWorkflow(done_move="to_type", done_current="state_type",
                        done_since=("completed", "created"), approver="by_id",
                        assignee="assignee_id", state_via="state {to}", persons_only=True,
                        late_names_via=True)  # fmt: skip
T1, T2 = "2026-11-01T10:00:00.000000Z", "2026-11-02T10:00:00.000000Z"


def test_parse_time_reads_jira_and_linear_offsets() -> None:
    expected = datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert parse_time("2026-11-30T10:00:00.000+0000") == expected
    assert parse_time("2026-11-30T05:00:00.000-0500") == expected
    assert parse_time("2026-11-30T10:00:00.000Z") == expected
    assert parse_time("") is None and parse_time(None) is None


def test_a_ticket_created_done_is_done_since_its_first_set_time() -> None:
    jira = {"transitions": [], "status": "Done", "created": T1}
    assert first_done(jira, JIRA, {"done"}) == T1
    linear = {"transitions": [], "state_type": "completed", "completed": T2, "created": T1}
    assert first_done(linear, LINEAR, {"completed"}) == T2
    assert first_done({**linear, "completed": None}, LINEAR, {"completed"}) == T1
    assert first_done({**linear, "state_type": "started"}, LINEAR, {"completed"}) is None


def test_a_late_approval_is_named_where_the_workflow_says_so() -> None:
    moves = [
        {"at": T1, "by": "Alice", "by_id": "u1", "to": "Done", "to_type": "completed"},
        {"at": T2, "by": "Bob", "by_id": "u2", "to": "Approved", "to_type": "started"},
    ]
    row = {"key": "X-1", "transitions": moves, "label_changes": [], "assignee": "Alice",
           "assignee_id": "u1", "status": "Approved", "state_type": "started"}  # fmt: skip
    common = {"states": ["Approved"], "independent": True, "how": "Approved"}
    jira = approval_outcome(row, JIRA, done=["Done"], **common)
    linear = approval_outcome(row, LINEAR, done=["completed"], **common)
    assert jira.status == linear.status == Status.FAIL
    assert jira.message == f"X-1 was approved at {T2}, after it was done at {T1}."
    assert (
        linear.message == f"X-1 was approved (state Approved) at {T2}, after it was done at {T1}."
    )
