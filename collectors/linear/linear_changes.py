"""Linear change issues: approvals and state transitions of each issue in a window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    assertion,
    register,
)
from collectors._tickets import (
    TicketWorkflow,
    approval_outcome,
    oldest_first,
    parse_time,
    workflow_outcome,
)
from collectors.errors import ErrorKind
from collectors.linear._api import LINEAR_PARAMS, LinearAPI

_KEY = "linear_changes"
_APPROVED = f"{_KEY}.approved_before_done"
_WORKFLOW = f"{_KEY}.followed_required_workflow"
_CONTROLS = ("soc2-2017:CC8.1", "iso27001-2022:A.8.32")
#: Linear's workflow state types (``WorkflowState.type``).
STATE_TYPES = ("triage", "backlog", "unstarted", "started", "completed", "canceled", "duplicate")
#: Issues per page, and history entries read with each issue: Linear refuses a query above
#: 10,000 complexity points, and a connection multiplies its children's cost by ``first``.
ISSUE_PAGE = 20
HISTORY_PAGE = 50
LABEL_PAGE = 50
_DONE_PARAM = Param(
    "done_state_types",
    "list",
    default=["completed"],
    choices=STATE_TYPES,
    help="Workflow state types that mean the change is done (Linear's Done states are of "
    "type completed).",
)
#: Linear's rows for the shared checks: done is a state type (an issue created done is done
#: since its completion); approvers and assignees are compared by user id, an entry without
#: an actor is an integration's, and approvals come from states and labels.
_SHAPE = TicketWorkflow(
    done_move="to_type",
    done_current="state_type",
    done_since=("completed", "created"),
    approver="by_id",
    assignee="assignee_id",
    state_via="state {to}",
    persons_only=True,
    late_names_via=True,
)

_HISTORY_FIELDS = """
      createdAt
      actor { id name email }
      fromState { name type }
      toState { name type }
      addedLabels { name }
      removedLabels { name }
"""
TEAMS_QUERY = """query Teams($keys: [String!]!, $first: Int!, $after: String) {
  teams(filter: {key: {in: $keys}}, first: $first, after: $after) {
    nodes { id key name }
    pageInfo { hasNextPage endCursor }
  }
}"""
ISSUES_QUERY = f"""query Issues($filter: IssueFilter!, $first: Int!, $after: String,
    $historyFirst: Int!, $labelsFirst: Int!) {{
  issues(filter: $filter, first: $first, after: $after, orderBy: updatedAt) {{
    nodes {{
      id identifier number title url createdAt updatedAt completedAt
      state {{ name type }}
      team {{ key }}
      assignee {{ id name email }}
      creator {{ id name email }}
      labels(first: $labelsFirst) {{ nodes {{ name }} }}
      history(first: $historyFirst) {{
        nodes {{{_HISTORY_FIELDS}    }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
HISTORY_QUERY = f"""query IssueHistory($id: String!, $first: Int!, $after: String) {{
  issue(id: $id) {{
    history(first: $first, after: $after) {{
      nodes {{{_HISTORY_FIELDS}    }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""


def _person(value: Any) -> str | None:
    """A user as its name (email, then id, when no name is set)."""
    if not isinstance(value, dict):
        return None
    return value.get("name") or value.get("email") or value.get("id")


def _names(values: Any) -> list[str]:
    return [str(v["name"]) for v in values or [] if isinstance(v, dict) and v.get("name")]


def history_events(
    entries: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The state changes and label changes of an issue's history, each oldest first.

    State changes are ``{at, by, by_id, from, to, from_type, to_type}``; label changes
    ``{at, by, by_id, added, removed}``. ``at`` is in the canonical UTC form of datetime
    columns (so times compare as strings); ``by`` is ``None`` when an integration or an
    automation made the change (Linear then records no actor).
    """
    states, labels = [], []
    for entry in entries:
        at = parse_time(entry.get("createdAt"))
        actor = entry.get("actor")
        who = {"at": at, "by": _person(actor),
               "by_id": actor.get("id") if isinstance(actor, dict) else None}  # fmt: skip
        to_state, from_state = entry.get("toState"), entry.get("fromState")
        if isinstance(to_state, dict):
            from_state = from_state if isinstance(from_state, dict) else {}
            states.append({**who, "from": from_state.get("name"), "to": to_state.get("name"),
                           "from_type": from_state.get("type"),
                           "to_type": to_state.get("type")})  # fmt: skip
        added, removed = _names(entry.get("addedLabels")), _names(entry.get("removedLabels"))
        if added or removed:
            labels.append({**who, "added": added, "removed": removed})

    return oldest_first(states), oldest_first(labels)


@register
class LinearChangesCollector(Collector):
    """Change issues of Linear teams with their state and label history.

    Calls (Linear's GraphQL API at ``api_url``, ``POST`` with an ``operationName``): the
    ``Viewer`` query (who the key belongs to); ``Teams`` (``teams`` filtered on the team
    keys, to find their ids: a key missing from the answer is a team that does not exist or
    that the key's user cannot read); per team, ``Issues`` (``issues`` filtered on the team,
    on ``updatedAt`` or ``completedAt`` in the last ``window_days``, and on ``labels`` and
    ``state_types`` when given; 20 issues a page with their first 50 history entries and
    labels, ordered by ``updatedAt``); and, for an issue whose history has more,
    ``IssueHistory`` (``issue(id).history``) from the embedded page's cursor. Every
    connection is paginated with Relay cursors (``first``, ``after``, ``pageInfo {
    hasNextPage endCursor }``) to the end. The key needs read access to the teams' issues
    (a member of each private team).

    Linear has no approval object, so an approval is, by convention, an entry of the
    issue's history that either moves it into one of ``approval_states`` (a workflow state
    such as "Approved" added to the team's workflow) or adds one of ``approval_labels``
    (such as "Approved"); the entry's actor is the approver and its time the approval
    time. Both lists are thresholds of ``approved_before_done`` (case-insensitive; either
    may be empty). An entry with no actor was made by an integration or automation and is
    not a person's approval. With ``independent`` (the default) the approver must not be
    the issue's assignee (compared by user id). An issue is done when it enters a state
    whose type is in ``done_state_types`` (``completed`` by default: Linear's Done states);
    canceled issues are not done, and an issue that is not done has no finding.

    Errors: an authentication error (or HTTP 401) fails the run, naming the ``api_key``; a
    rate limit (HTTP 400 with ``RATELIMITED``, or 429) is retried after the reset Linear
    announces, within the retry budget; another GraphQL error fails only what it concerns:
    a team that cannot be read, or whose issues Linear refuses, is an ERROR for that team
    (resource: the team key) while the other teams go on; an issue whose remaining history
    cannot be read keeps its row with ``read_error`` and is an ERROR for both assertions.

    Example row: ``ENG-12`` "Rotate the payments database credentials", team ENG, assignee
    Alice, moved Todo > In Progress > In Review > Approved (by Bob) > Done: it passes both
    assertions with the default thresholds.
    """

    key = _KEY
    title = "Linear change issues"
    version = 1
    params = (
        *LINEAR_PARAMS,
        Param("team_keys", "list", required=True, help="Keys of the teams, e.g. ENG, OPS."),
        Param(
            "labels",
            "list",
            help="Only issues with one of these labels (exact names), e.g. change; empty: all.",
        ),
        Param(
            "state_types",
            "list",
            choices=STATE_TYPES,
            help="Only issues now in a state of these types, e.g. completed; empty: all.",
        ),
        Param(
            "window_days",
            "integer",
            default=90,
            help="Issues updated or completed in the last N days.",
        ),
    )
    permissions = ("Read access to the teams' issues (a member of each private team)",)
    columns = (
        Column("key", "string", "Issue identifier, e.g. ENG-123 (the team key and number)."),
        Column("team", "string", "Team key."),
        Column("title", "string", "Title."),
        Column("url", "string", "The issue's page."),
        Column("state", "string", "Current workflow state."),
        Column("state_type", "string", "Type of the current state (completed, started, ...)."),
        Column("assignee", "string", "Who carries out the change (name)."),
        Column("assignee_id", "string", "Linear user id of the assignee."),
        Column("creator", "string", "Who raised it (name; null: an integration)."),
        Column("labels", "json", "Current label names (at most 50)."),
        Column("created", "datetime", "When it was created."),
        Column("updated", "datetime", "When it was last updated."),
        Column("completed", "datetime", "When it was completed (null: not completed)."),
        Column(
            "transitions",
            "json",
            "State changes oldest first: {at, by, by_id, from, to, from_type, to_type} "
            "(null: history not read).",
        ),
        Column(
            "label_changes",
            "json",
            "Label changes oldest first: {at, by, by_id, added, removed} (null: history not read).",
        ),
        Column("read_error", "string", "What could not be read for this issue."),
    )
    resource_column = "key"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per issue, by team (in the order of ``team_keys``) and number."""
        keys = list(dict.fromkeys(k.strip().upper() for k in ctx.params["team_keys"] or []
                                  if k and k.strip()))  # fmt: skip
        if not keys:
            raise CollectorError(
                "give at least one team key (team_keys, e.g. ENG)",
                permanent=True,
                kind=ErrorKind.CONFIGURATION,
            )
        api = LinearAPI(ctx)
        api.identify()
        teams: dict[str, dict[str, Any]] = {}
        for nodes in api.pages("Teams", TEAMS_QUERY, {"keys": keys, "first": 50}, ("teams",)):
            teams.update({str(t.get("key")).upper(): t for t in nodes if isinstance(t, dict)})
        start = ctx.now() - timedelta(days=int(ctx.params["window_days"]))
        since = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows: list[dict[str, Any]] = []
        for key in keys:
            team = teams.get(key)
            if team is None:
                ctx.error(f"team {key} was not found, or the api_key's user cannot read it "
                          "(a private team they are not a member of)",
                          action="linear:Teams", resource=key)  # fmt: skip
                continue
            team_rows: list[dict[str, Any]] = []
            variables = {"filter": _filter(team["id"], since, ctx.params), "first": ISSUE_PAGE,
                         "historyFirst": HISTORY_PAGE, "labelsFirst": LABEL_PAGE}  # fmt: skip
            try:
                for nodes in api.pages("Issues", ISSUES_QUERY, variables, ("issues",)):
                    for issue in nodes:
                        ctx.check_budget()
                        team_rows.append(_row(api, issue))
                        ctx.progress(len(rows) + len(team_rows), None, team_rows[-1]["key"])
            except CollectorError as exc:
                if not exc.permanent or exc.kind == ErrorKind.CREDENTIALS:
                    raise
                ctx.error(f"team {key}: the issues could not be read ({exc.message}); "
                          f"{len(team_rows)} read before the error are kept",
                          action=exc.action, resource=key)  # fmt: skip
            team_rows.sort(key=lambda r: r["_number"])
            rows.extend(team_rows)
        for row in rows:
            del row["_number"]
        return rows

    @assertion(
        _APPROVED,
        title="Changes were approved before they were done",
        severity=Severity.HIGH,
        remediation="Make the approval a step before Done (an Approved workflow state or "
        "label set by a reviewer, not the assignee), and record a retrospective approval "
        "for this change.",
        controls=_CONTROLS,
        rationale="Authorisation of a change before it reaches production is what CC8.1 and "
        "A.8.32 require; the issue history shows who approved and when.",
        params=(
            Param(
                "approval_states",
                "list",
                default=["Approved"],
                help="Workflow states whose entry is an approval (case-insensitive).",
            ),
            Param(
                "approval_labels",
                "list",
                default=["Approved"],
                help="Labels whose addition is an approval (case-insensitive).",
            ),
            _DONE_PARAM,
            Param(
                "independent",
                "boolean",
                default=True,
                help="The approver must not be the issue's assignee.",
            ),
        ),
    )
    def approved_before_done(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when a person other than the assignee (anyone when not ``independent``)
        approved the issue before it first entered a done state; not applicable while it
        is not done."""
        how = [f"state {s}" for s in params["approval_states"]] + [
            f"label {s}" for s in params["approval_labels"]
        ]
        return approval_outcome(
            row,
            _SHAPE,
            done=params["done_state_types"],
            states=params["approval_states"],
            labels=params["approval_labels"],
            independent=params["independent"],
            how=", ".join(how) or "none configured",
        )

    @assertion(
        _WORKFLOW,
        title="Changes passed through the required workflow states",
        severity=Severity.MEDIUM,
        remediation="Follow the team's workflow (review and approval states before Done) and "
        "review the change that skipped them.",
        controls=_CONTROLS,
        rationale="Review, approval and testing steps recorded before deployment show that "
        "the change management process was followed (CC8.1, A.8.32).",
        params=(
            Param(
                "required_states",
                "list",
                default=["In Review"],
                help="Workflow states every change must enter before it is done.",
            ),
            _DONE_PARAM,
        ),
    )
    def followed_required_workflow(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when every required state was entered before the first done state; not
        applicable while the issue is not done."""
        return workflow_outcome(row, _SHAPE, params["required_states"], params["done_state_types"])


def _filter(team_id: str, since: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``IssueFilter`` of a team's population: updated or completed since ``since``,
    and with one of ``labels`` / in one of ``state_types`` when they are given."""
    found: dict[str, Any] = {
        "team": {"id": {"eq": team_id}},
        "or": [{"updatedAt": {"gte": since}}, {"completedAt": {"gte": since}}],
    }
    labels = [x.strip() for x in params.get("labels") or [] if x.strip()]
    if labels:
        found["labels"] = {"some": {"name": {"in": labels}}}
    types = [x.strip() for x in params.get("state_types") or [] if x.strip()]
    if types:
        found["state"] = {"type": {"in": types}}
    return found


def _row(api: LinearAPI, issue: dict[str, Any]) -> dict[str, Any]:
    """One row from an issue of the search and, when cut short there, its whole history."""
    key = str(issue.get("identifier"))
    history = issue.get("history") or {}
    entries = list(history.get("nodes") or [])
    info = history.get("pageInfo") or {}
    transitions: list[dict[str, Any]] | None
    label_changes: list[dict[str, Any]] | None
    error = None
    try:
        if info.get("hasNextPage"):
            variables = {"id": issue.get("id") or key, "first": HISTORY_PAGE}
            for nodes in api.pages("IssueHistory", HISTORY_QUERY, variables,
                                   ("issue", "history"), after=info.get("endCursor")):  # fmt: skip
                entries.extend(nodes)
        transitions, label_changes = history_events(entries)
    except CollectorError as exc:
        if not exc.permanent or exc.kind == ErrorKind.CREDENTIALS:
            raise
        transitions, label_changes, error = None, None, f"history: {exc.message}"
    state = issue.get("state") or {}
    assignee = issue.get("assignee")
    number = issue.get("number")
    return {
        "key": key,
        "team": (issue.get("team") or {}).get("key") or key.rsplit("-", 1)[0],
        "title": issue.get("title"),
        "url": issue.get("url"),
        "state": state.get("name"),
        "state_type": state.get("type"),
        "assignee": _person(assignee),
        "assignee_id": assignee.get("id") if isinstance(assignee, dict) else None,
        "creator": _person(issue.get("creator")),
        "labels": sorted(_names((issue.get("labels") or {}).get("nodes"))),
        "created": parse_time(issue.get("createdAt")),
        "updated": parse_time(issue.get("updatedAt")),
        "completed": parse_time(issue.get("completedAt")),
        "transitions": transitions,
        "label_changes": label_changes,
        "read_error": error,
        "_number": number if isinstance(number, int | float) else 0,
    }
