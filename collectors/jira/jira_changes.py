"""Jira change tickets: approvals and status transitions of each change in a window."""

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
from collectors.jira._api import JIRA_PARAMS, JiraAPI

_KEY = "jira_changes"
_APPROVED = f"{_KEY}.approved_before_done"
_WORKFLOW = f"{_KEY}.followed_required_workflow"
_CONTROLS = ("soc2-2017:CC8.1", "iso27001-2022:A.8.32")
_FIELDS = ["summary", "status", "issuetype", "project", "reporter", "assignee", "created",
           "updated", "resolutiondate"]  # fmt: skip
_DONE_DEFAULT = ["Done", "Deployed", "Released"]
_DONE_PARAM = Param(
    "done_statuses",
    "list",
    default=_DONE_DEFAULT,
    help="Statuses that mean the change is done or in production (case-insensitive).",
)
#: Jira's rows for the shared checks: done is a status (a ticket created done is done since
#: its creation); approvers and assignees are compared by display name.
_SHAPE = TicketWorkflow(
    done_move="to",
    done_current="status",
    done_since=("created",),
    approver="by",
    assignee="assignee",
)


def _person(value: Any) -> str | None:
    """A user field as its display name (email, then account id, when no name is shown)."""
    if not isinstance(value, dict):
        return None
    return value.get("displayName") or value.get("emailAddress") or value.get("accountId")


def _quote(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def status_transitions(histories: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The status changes of a changelog, oldest first: ``{at, by, from, to}`` (``at`` in
    the canonical UTC form of datetime columns, so times compare as strings)."""
    moves = []
    for history in histories:
        at = parse_time(history.get("created"))
        by = _person(history.get("author"))
        for item in history.get("items") or []:
            if item.get("fieldId") == "status" or item.get("field") == "status":
                moves.append({"at": at, "by": by, "from": item.get("fromString"),
                              "to": item.get("toString")})  # fmt: skip
    return oldest_first(moves)


@register
class JiraChangesCollector(Collector):
    """Change tickets of a Jira Cloud project (or a JQL query) with their status history.

    Calls (Jira Cloud platform REST API v3, basic auth with an account's email and API
    token): ``GET /rest/api/3/myself``; ``GET /rest/api/3/search/jql`` (the enhanced search;
    ``nextPageToken`` pagination, 100 issues a page, ``expand=changelog``, only the fields
    needed); and, for an issue whose expanded changelog is cut short (``total`` above the
    histories returned), ``GET /rest/api/3/issue/{key}/changelog`` paginated with
    ``startAt`` until ``isLast``. The account needs the Browse Projects permission on the
    project. 429 (with ``Retry-After``) and 503 answers are retried within the time budget.

    The population is ``jql`` when given (used as written: it decides the population), or
    the tickets of ``project`` (optionally of ``issue_types``) updated in the last
    ``window_days``, ordered by key. An approval is a transition into one of the approval
    statuses (a workflow step such as "Approved", recorded in the changelog with who made
    it and when); the statuses are thresholds of the assertions, so each workflow can be
    described without a code change. ``approvers_field`` (a user-picker custom field such
    as Jira Service Management's "Approvers", e.g. ``customfield_10003``) is collected when
    set, as the ticket's current approvers; it carries no time, so the assertions rely on
    the changelog.

    A bad token (401) or a search Jira refuses (400, e.g. a project that does not exist:
    Jira's message is shown) fails the run; an issue whose changelog cannot be read keeps
    its row with ``read_error`` and is an ERROR for both assertions, the others go on.

    Example row: ``CHG-12`` "Rotate the payments database credentials", a Change in project
    CHG, assignee Alice, moved To Do > In Review > Approved (by Bob) > Done: it passes both
    assertions with the default statuses.
    """

    key = _KEY
    title = "Jira change tickets"
    version = 1
    params = (
        *JIRA_PARAMS,
        Param("project", "string", help="Project key of the change tickets, e.g. CHG."),
        Param(
            "jql",
            "string",
            help="A JQL query instead of project (used as written, e.g. "
            "'project = OPS AND labels = change AND updated >= -90d ORDER BY key').",
        ),
        Param(
            "issue_types",
            "list",
            help="Issue types of change tickets in the project, e.g. Change; empty: all.",
        ),
        Param("window_days", "integer", default=90, help="Tickets updated in the last N days."),
        Param(
            "approvers_field",
            "string",
            help="Field id of an approvers user-picker (e.g. customfield_10003); optional.",
        ),
    )
    permissions = ("Browse Projects",)
    columns = (
        Column("key", "string", "Issue key, e.g. CHG-12."),
        Column("project", "string", "Project key."),
        Column("issue_type", "string", "Issue type name."),
        Column("summary", "string", "Summary."),
        Column("url", "string", "The ticket's page."),
        Column("status", "string", "Current status."),
        Column("reporter", "string", "Who raised it (display name)."),
        Column("assignee", "string", "Who carries out the change (display name)."),
        Column("created", "datetime", "When it was created."),
        Column("updated", "datetime", "When it was last updated."),
        Column("resolved", "datetime", "Resolution date (null: unresolved)."),
        Column(
            "transitions",
            "json",
            "Status changes oldest first: {at, by, from, to} (null: changelog not read).",
        ),
        Column("approvers", "json", "Current approvers in approvers_field (null: not set)."),
        Column("read_error", "string", "What could not be read for this ticket."),
    )
    resource_column = "key"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per ticket, in the order of the search."""
        jql = _jql(ctx.params)
        api = JiraAPI(ctx)
        api.identify()
        field = str(ctx.params.get("approvers_field") or "").strip() or None
        fields = _FIELDS + ([field] if field else [])
        rows: list[dict[str, Any]] = []
        for issue in api.search(jql, fields, expand="changelog"):
            ctx.check_budget()
            rows.append(_row(api, issue, field))
            ctx.progress(len(rows), None, str(issue.get("key") or ""))
        return rows

    @assertion(
        _APPROVED,
        title="Changes were approved before they were done",
        severity=Severity.HIGH,
        remediation="Make the approval a required workflow step before the done or deployed "
        "statuses (a workflow condition), and record a retrospective approval for this change.",
        controls=_CONTROLS,
        rationale="Authorisation of a change before it reaches production is what CC8.1 and "
        "A.8.32 require; the changelog shows who approved and when.",
        params=(
            Param(
                "approval_statuses",
                "list",
                default=["Approved"],
                help="Statuses whose entry is an approval (case-insensitive).",
            ),
            _DONE_PARAM,
            Param(
                "independent",
                "boolean",
                default=True,
                help="The approver must not be the ticket's assignee.",
            ),
        ),
    )
    def approved_before_done(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when the ticket entered an approval status before it first entered a done
        status (by someone other than the assignee when ``independent``); not applicable
        while it is not done."""
        return approval_outcome(
            row,
            _SHAPE,
            done=params["done_statuses"],
            states=params["approval_statuses"],
            independent=params["independent"],
            how=", ".join(params["approval_statuses"]),
        )

    @assertion(
        _WORKFLOW,
        title="Changes passed through the required workflow statuses",
        severity=Severity.MEDIUM,
        remediation="Enforce the steps in the Jira workflow (no transition from earlier "
        "statuses straight to done), and review the change that skipped them.",
        controls=_CONTROLS,
        rationale="Review, approval and testing steps recorded before deployment show that "
        "the change management process was followed (CC8.1, A.8.32).",
        params=(
            Param(
                "required_statuses",
                "list",
                default=["In Review", "Approved"],
                help="Statuses every change must enter before it is done.",
            ),
            _DONE_PARAM,
        ),
    )
    def followed_required_workflow(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when every required status was entered before the first done status; not
        applicable while the ticket is not done."""
        return workflow_outcome(row, _SHAPE, params["required_statuses"], params["done_statuses"])


def _jql(params: dict[str, Any]) -> str:
    """The search: ``jql`` as given, or the project's tickets updated in the window."""
    jql = str(params.get("jql") or "").strip()
    project = str(params.get("project") or "").strip()
    if bool(jql) == bool(project):
        raise CollectorError(
            "give either project (e.g. CHG) or jql, not both and not neither",
            permanent=True,
            kind=ErrorKind.CONFIGURATION,
        )
    if jql:
        return jql
    clauses = [f"project = {_quote(project)}"]
    types = [t.strip() for t in params.get("issue_types") or [] if t.strip()]
    if types:
        clauses.append(f"issuetype in ({', '.join(_quote(t) for t in types)})")
    clauses.append(f"updated >= -{int(params['window_days'])}d")
    return " AND ".join(clauses) + " ORDER BY key ASC"


def _row(api: JiraAPI, issue: dict[str, Any], field: str | None) -> dict[str, Any]:
    """One row from a search result and, when cut short there, its full changelog."""
    key = str(issue.get("key"))
    fields = issue.get("fields") or {}
    changelog = issue.get("changelog") or {}
    histories = changelog.get("histories") or []
    total = changelog.get("total")
    transitions: list[dict[str, Any]] | None
    error = None
    if isinstance(total, int) and total > len(histories):
        try:
            transitions = status_transitions(api.changelog(key))
        except CollectorError as exc:
            if not exc.permanent or exc.kind == ErrorKind.CREDENTIALS:
                raise
            transitions, error = None, f"changelog: {exc}"
    else:
        transitions = status_transitions(histories)
    approvers = None
    if field:
        value = fields.get(field)
        people = value if isinstance(value, list) else [value] if value else []
        approvers = sorted(p for p in (_person(v) for v in people) if p)
    return {
        "key": key,
        "project": (fields.get("project") or {}).get("key"),
        "issue_type": (fields.get("issuetype") or {}).get("name"),
        "summary": fields.get("summary"),
        "url": f"{api.base_url}/browse/{key}",
        "status": (fields.get("status") or {}).get("name"),
        "reporter": _person(fields.get("reporter")),
        "assignee": _person(fields.get("assignee")),
        "created": parse_time(fields.get("created")),
        "updated": parse_time(fields.get("updated")),
        "resolved": parse_time(fields.get("resolutiondate")),
        "transitions": transitions,
        "approvers": approvers,
        "read_error": error,
    }
