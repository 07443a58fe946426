"""The checks that the change-ticket collectors (``jira_changes``, ``linear_changes``) share.

Both collect one row per ticket with its workflow history as ``transitions``: the moves
between workflow states, oldest first, each ``{at, by, from, to, ...}`` with ``at`` in the
canonical UTC form of datetime columns (so times compare as strings), or ``None`` when the
history could not be read (``read_error`` then says why). Both judge the same two things
under their own keys: was the change approved before it was done, and did it pass through
the required workflow states before it was done. Each collector declares its own assertions
and params (Jira's statuses; Linear's workflow states, state types and labels) and says in a
:class:`TicketWorkflow` where its rows keep what the checks read; the order of the checks
and their sentences live here, so both read the same way.

Django-free, like the rest of ``collectors/``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.base import Outcome, Status
from collectors.schema import format_datetime

__all__ = [
    "TicketWorkflow",
    "approval_outcome",
    "approvals",
    "first_done",
    "lowered",
    "oldest_first",
    "parse_time",
    "workflow_outcome",
]


@dataclass(frozen=True)
class TicketWorkflow:
    """Where a ticket collector's rows keep what the shared checks read, and what differs.

    - ``done_move``: the key of a transition compared with the done values (``to``: Jira's
      status; ``to_type``: Linear's state type).
    - ``done_current``: the row's column compared with them when no move into done is
      recorded (a ticket created done).
    - ``done_since``: the row's columns giving the done time in that case, the first set one
      (the last one when none is).
    - ``approver`` and ``assignee``: the key of an approval naming who approved, and the
      row's column it is compared with for independence (Jira: display names; Linear: ids).
    - ``state_via``: how an approval by a move into an approval state is named in messages
      (``{to}`` is the state).
    - ``persons_only``: an approval whose ``approver`` is not set was made by an integration
      or automation, not a person (Linear records no actor then).
    - ``late_names_via``: the message of an approval after done names how it was approved.
    """

    done_move: str
    done_current: str
    done_since: tuple[str, ...]
    approver: str
    assignee: str
    state_via: str = "{to}"
    persons_only: bool = False
    late_names_via: bool = False


def parse_time(value: Any) -> datetime | None:
    """An API's ISO 8601 time (``...Z``, ``...+00:00`` or Jira's ``...+0000``) as an aware
    datetime (None when absent)."""
    if not value:
        return None
    text = str(value)
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # +0000 -> +00:00
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def oldest_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History events (each with an aware ``at`` datetime or None) sorted oldest first, those
    without a time last, equal times in the order given; ``at`` in the canonical UTC form."""
    events.sort(key=lambda e: (e["at"] is None, e["at"] or 0))
    return [{**e, "at": format_datetime(e["at"]) if e["at"] else None} for e in events]


def lowered(values: Iterable[str | None] | None) -> set[str]:
    """The set names of a list param (or of a ticket's states), trimmed and lower-cased: the
    checks compare names case-insensitively."""
    return {v.strip().lower() for v in values or [] if v and v.strip()}


def first_done(row: dict[str, Any], workflow: TicketWorkflow, done: set[str]) -> str | None:
    """When the ticket first moved into one of ``done`` (lower-cased); when the history shows
    no such move but the ticket is done now (e.g. created done), its ``done_since`` time;
    None while it is not done."""
    for move in row["transitions"]:
        if str(move[workflow.done_move] or "").lower() in done:
            return move["at"]
    if str(row[workflow.done_current] or "").lower() in done:
        since = row[workflow.done_since[-1]]
        for column in workflow.done_since:
            if row[column]:
                since = row[column]
                break
        return str(since)
    return None


def _when_done(
    row: dict[str, Any],
    workflow: TicketWorkflow,
    done: Iterable[str],
    judge: Callable[[str], Outcome],
) -> Outcome | None:
    """ERROR when the ticket's history could not be read (nothing can be judged); None (not
    applicable) while it is not done; else ``judge`` of the time it was first done."""
    if row["transitions"] is None:
        return Outcome(Status.ERROR, f"The history of {row['key']} could not be read: "
                       f"{row['read_error']}.")  # fmt: skip
    done_at = first_done(row, workflow, lowered(done))
    return None if done_at is None else judge(done_at)


def workflow_outcome(
    row: dict[str, Any], workflow: TicketWorkflow, required: list[str], done: Iterable[str]
) -> Outcome | None:
    """PASS when the ticket entered every ``required`` state before it first entered one of
    ``done``; FAIL naming those it skipped; ERROR when its history could not be read; None
    (not applicable) while it is not done."""
    return _when_done(row, workflow, done, lambda done_at: _workflow(row, required, done_at))


def _workflow(row: dict[str, Any], required: list[str], done_at: str) -> Outcome:
    key = row["key"]
    entered = lowered(m["to"] for m in row["transitions"] if m["at"] and m["at"] <= done_at)
    missing = [s for s in required if s.strip().lower() not in entered]
    if missing:
        return Outcome(Status.FAIL, f"{key} was done at {done_at} without passing through "
                       f"{', '.join(missing)}.")  # fmt: skip
    return Outcome(Status.PASS, f"{key} passed through {', '.join(required)} before done.")


def approvals(
    row: dict[str, Any],
    workflow: TicketWorkflow,
    states: Collection[str],
    labels: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The ticket's approvals, oldest first, as ``{at, by, by_id, via}``: its moves into one
    of ``states`` and, where rows have ``label_changes``, additions of one of ``labels``
    (both lower-cased names)."""
    found = [{"at": m["at"], "by": m["by"], "by_id": m.get("by_id"),
              "via": workflow.state_via.format(to=m["to"])}
             for m in row["transitions"] if str(m["to"] or "").lower() in states]  # fmt: skip
    for change in row.get("label_changes") or []:
        for name in change["added"]:
            if name.lower() in labels:
                found.append({"at": change["at"], "by": change["by"], "by_id": change["by_id"],
                              "via": f"label {name}"})  # fmt: skip
    found.sort(key=lambda a: (a["at"] is None, a["at"] or ""))
    return found


def approval_outcome(
    row: dict[str, Any],
    workflow: TicketWorkflow,
    *,
    done: Iterable[str],
    states: Iterable[str],
    labels: Iterable[str] = (),
    independent: bool,
    how: str,
) -> Outcome | None:
    """PASS when a person (anyone, unless ``persons_only``) other than the assignee (anyone
    when not ``independent``) approved the ticket before it first entered one of ``done``;
    else FAIL saying why (``how``: what counts as an approval, for the message when none
    was found); ERROR when its history could not be read; None while it is not done."""

    def judge(done_at: str) -> Outcome:
        found = approvals(row, workflow, lowered(states), lowered(labels))
        return _approval(row, workflow, found, done_at, independent=independent, how=how)

    return _when_done(row, workflow, done, judge)


def _approval(
    row: dict[str, Any],
    workflow: TicketWorkflow,
    found: list[dict[str, Any]],
    done_at: str,
    *,
    independent: bool,
    how: str,
) -> Outcome:
    key = row["key"]
    before = [a for a in found if a["at"] and a["at"] <= done_at]
    if workflow.persons_only:
        people = [a for a in before if a[workflow.approver]]
        if before and not people:
            return Outcome(Status.FAIL, f"{key} was approved ({before[0]['via']}) only by an "
                           "integration or automation, not a person.")  # fmt: skip
        before = people
    if independent:
        others = [a for a in before if a[workflow.approver] != row[workflow.assignee]]
        if before and not others:
            return Outcome(Status.FAIL, f"{key} was approved only by its assignee "
                           f"{row['assignee']}.")  # fmt: skip
        before = others
    if before:
        first = before[0]
        return Outcome(Status.PASS, f"{key} approved ({first['via']}) by {first['by']} at "
                       f"{first['at']}, before done at {done_at}.")  # fmt: skip
    if found:
        via = f" ({found[0]['via']})" if workflow.late_names_via else ""
        return Outcome(Status.FAIL, f"{key} was approved{via} at {found[0]['at']}, after it "
                       f"was done at {done_at}.")  # fmt: skip
    return Outcome(Status.FAIL, f"{key} was done at {done_at} without an approval ({how}).")
