"""GitHub pull requests merged into each repository's default branch: the change population."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.github._api import (
    GITHUB_PARAMS,
    GitHubAPI,
    error_message,
    list_repositories,
    raise_for_auth,
)

_KEY = "github_pull_requests"
_APPROVED = f"{_KEY}.approved_by_another_person"
_CHECKS = f"{_KEY}.required_checks_passed"
_NO_PUSHES = f"{_KEY}.no_direct_pushes"
_TICKET = f"{_KEY}.cites_a_ticket"
_CONTROLS = ("soc2-2017:CC8.1", "iso27001-2022:A.8.32")
#: Review states that set a reviewer's verdict (COMMENTED and PENDING do not change it).
_VERDICTS = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}
#: Conclusions GitHub accepts for a required check (check runs and commit statuses).
_PASSING = {"success", "neutral", "skipped"}
#: Issue keys such as ``ABC-123`` (Jira, Linear, YouTrack style).
ISSUE_KEY_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z][A-Z0-9]{1,9}-[1-9][0-9]*)(?![A-Za-z0-9])")
#: What GitHub's events API keeps: 90 days and at most 300 events (3 pages of 100).
EVENTS_DAYS = 90
EVENTS_MAX = 300
PULL_REQUEST = "pull_request"
DIRECT_PUSH = "direct_push"
_REPO_KEEP = ("full_name", "default_branch", "archived", "html_url")


def _time(value: Any) -> datetime | None:
    """GitHub's ``2026-11-30T10:00:00Z`` as an aware datetime (None when absent)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def issue_keys(*texts: str | None, projects: re.Pattern[str] | None = None) -> list[str]:
    """Sorted, distinct issue keys found in the texts, without duplicates.

    Every upper-case ``ABC-123`` key counts. With ``projects`` (from
    :func:`project_key_pattern`) a key of a configured project also counts in any case and
    is recorded in upper case (``eng-42: fix login`` -> ``ENG-42``); a lower-case word of
    another project (``utf-8``, ``sha-256``) never does."""
    found: set[str] = set()
    for text in texts:
        if not text:
            continue
        found.update(ISSUE_KEY_RE.findall(text))
        found.update(project_issue_keys(text, projects))
    return sorted(found)


def ticket_projects(values: list[str] | None) -> list[str]:
    """The ``ticket_projects`` threshold as upper-case project keys (blanks dropped)."""
    return list(dict.fromkeys(p.strip().upper() for p in values or [] if p and p.strip()))


def project_key_pattern(projects: list[str]) -> re.Pattern[str] | None:
    """A pattern for ``<project>-<number>`` of the given projects in any case, between word
    boundaries (no letter or digit glued on either side: ``preeng-42`` and ``eng-42x`` are
    not keys); None without projects.

    Linear suggests lower-case branch names (``alice/eng-42-fix-login``) and people write
    ``eng-42: fix login`` in titles and commit messages. ``re.ASCII`` keeps the case folding
    to ASCII letters, so that e.g. the Kelvin sign does not pass for a ``K``."""
    if not projects:
        return None
    names = "|".join(re.escape(p) for p in sorted(projects, key=len, reverse=True))
    return re.compile(
        rf"(?<![A-Za-z0-9])({names})-([1-9][0-9]*)(?![A-Za-z0-9])", re.IGNORECASE | re.ASCII
    )


def project_issue_keys(text: str | None, pattern: re.Pattern[str] | None) -> list[str]:
    """Sorted, distinct keys of the configured projects in a text, in upper case
    (``alice/eng-42-fix-login`` -> ``ENG-42``); none without a pattern."""
    if not text or pattern is None:
        return []
    return sorted({f"{m.group(1).upper()}-{m.group(2)}" for m in pattern.finditer(text)})


def approvers_at(reviews: list[dict[str, Any]], merged_at: datetime) -> list[str]:
    """Logins whose latest verdict submitted before ``merged_at`` is APPROVED, sorted."""
    latest: dict[str, tuple[datetime, str]] = {}
    for review in reviews:
        state = str(review.get("state") or "").upper()
        submitted = _time(review.get("submitted_at"))
        login = (review.get("user") or {}).get("login")
        if state not in _VERDICTS or submitted is None or not login or submitted > merged_at:
            continue
        if login not in latest or submitted >= latest[login][0]:
            latest[login] = (submitted, state)
    return sorted(login for login, (_, state) in latest.items() if state == "APPROVED")


def protection_refuses_pushes(protection: dict[str, Any] | None) -> bool:
    """True when classic protection refuses every push that is not a reviewed pull request.

    That needs required reviews, ``enforce_admins`` (administrators are not exempt) and no
    ``bypass_pull_request_allowances`` (users, teams or apps allowed to push past the rule).
    """
    return bool(
        protection
        and protection.get("reviews_required")
        and protection.get("enforce_admins")
        and not protection.get("bypass_allowances")
    )


def _protection_summary(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a classic branch protection body that decide direct pushes."""
    reviews = body.get("required_pull_request_reviews")
    bypass = (reviews or {}).get("bypass_pull_request_allowances") or {}
    allowed = sorted(
        [f"user:{u.get('login')}" for u in bypass.get("users") or []]
        + [f"team:{t.get('slug')}" for t in bypass.get("teams") or []]
        + [f"app:{a.get('slug')}" for a in bypass.get("apps") or []]
    )
    admins = body.get("enforce_admins")
    return {
        "protected": True,
        "reviews_required": reviews is not None,
        "required_approvals": (reviews or {}).get("required_approving_review_count"),
        "enforce_admins": bool(admins.get("enabled")) if isinstance(admins, dict) else False,
        "bypass_allowances": allowed,
    }


@dataclass
class _Branch:
    """What is known of one repository's default branch, shared by all its rows.

    The same objects are referenced from every row of the repository (one copy, not one per
    pull request): the protection summary, the required checks and the events' coverage.
    """

    required: list[str] | None = None
    protection: dict[str, Any] | None = None
    checks_error: str | None = None
    events_from: datetime | None = None
    events_cover: bool | None = None
    events_error: str | None = None
    pushes: list[dict[str, Any]] = field(default_factory=list)
    interned: dict[Any, Any] = field(default_factory=dict)

    def share(self, value: Any) -> Any:
        """One shared instance per distinct list or dict value (approvers, conclusions)."""
        if value is None:
            return None
        key = tuple(value.items()) if isinstance(value, dict) else tuple(value)
        return self.interned.setdefault((type(value), key), value)


def _name(value: Any) -> str | None:
    """A login or branch name as an interned string (repeated across rows, stored once)."""
    return sys.intern(str(value)) if value else None


@register
class GithubPullRequestsCollector(Collector):
    """Changes to each repository's default branch within a window: merged pull requests and
    direct pushes.

    Calls (GitHub REST): ``GET /user``; ``GET /orgs/{org}/repos`` (when ``repositories`` is
    empty: every repository of the organisation) or ``GET /repos/{owner}/{repo}`` for each
    selected one; for each repository ``GET
    /repos/{owner}/{repo}/branches/{branch}/protection`` (classic protection of the default
    branch: its required checks, required reviews, ``enforce_admins`` and bypass allowances;
    404 means not protected), ``GET /repos/{owner}/{repo}/events`` (Link-paginated, newest
    first, read until an event is older than the window) and ``GET
    /repos/{owner}/{repo}/pulls?state=closed&base={branch}&sort=updated&direction=desc``,
    Link-paginated and read only until ``updated_at`` falls before the window (a pull request
    is updated when it is merged, so none merged in the window is missed); then for each pull
    request merged in the window ``GET /repos/{owner}/{repo}/pulls/{number}`` (the list
    omits ``merged_by``), ``GET /repos/{owner}/{repo}/pulls/{number}/reviews`` and,
    when checks are required, ``GET /repos/{owner}/{repo}/commits/{head_sha}/check-runs`` and
    ``GET /repos/{owner}/{repo}/commits/{head_sha}/status``. Checks are read on the pull
    request's head commit, the commit branch protection evaluates when it allows the merge
    (a squash or rebase merge commit has no checks of its own at merge time).

    ``approvers`` are the reviewers whose latest verdict (APPROVED, CHANGES_REQUESTED or
    DISMISSED; comments do not count) submitted before ``merged_at`` is APPROVED. Issue keys
    (``ABC-123``, upper case) are taken from the title, the head branch name and the body
    (commit messages for a direct push); the body itself is not kept. When the
    ``cites_a_ticket`` threshold ``ticket_projects`` is set, a key of one of those projects
    written in lower (or mixed) case in any of these texts also counts and is recorded in
    upper case, once (Linear suggests branch names such as ``alice/eng-42-fix-login``, and
    titles say ``eng-42: fix login``: ``ENG-42`` with ``ENG`` configured). A letter or digit
    glued on either side (``preeng-42``, ``eng-42x``) makes it no key. Without configured
    projects, and for every project that is not configured, only upper-case keys count (a
    plain ``utf-8`` or ``sha-256`` is not a ticket). So ``issue_keys`` depends on that
    threshold as it stood at collection time (recorded with each finding).

    Versions: 3 read a configured project's lower-case key in the head branch name only
    (with ``ctx.thresholds``); 4 reads it in the title, body and commit messages as well, so
    a change titled ``eng-42: fix login`` cites ``ENG-42``.

    Direct pushes: a ``PushEvent`` to the default branch in the window whose ``head`` is not
    the merge commit of a pull request merged in the window becomes a row of
    ``change_type`` ``direct_push`` (resource ``owner/name@<sha>``; author and merged_by are
    the pusher, issue keys come from the commit messages the event carries). What each source
    proves: the events API returns at most 300 events of the last 90 days, so it proves the
    absence of direct pushes only back to ``push_events_from`` (``push_events_cover_window``
    says whether that reaches the window's start); classic branch protection that requires
    reviews, includes administrators and allows no bypass refuses direct pushes, but it is
    the setting at collection time (GitHub has no history of it outside the enterprise audit
    log), and rulesets are not read here (``github_repos`` reads them). Both are recorded on
    every row of the repository.

    Memory: rows are built one pull request at a time and every payload is dropped once its
    row exists (besides the rows, only the merge commit ids of the repository being read are
    kept); repeated values (logins, branch names, required checks, approver lists, check
    conclusions, the protection summary) are shared between rows, so what grows with the
    population is the row itself (see ``benchmarks/README.md``).

    A repository that cannot be read (403, 404) is an ERROR for that repository and the
    others go on; a bad token (401) fails the run. When a pull request's reviews or checks
    cannot be read, its ``read_error`` says so and the assertion that needs them is an ERROR.

    Example row: ``acme-corp/api#42`` by ``alice``, merged by ``bob`` on 2026-11-30, approved
    by ``bob``, required checks ``ci/test: success``, issue keys ``["PAY-12"]``: it passes
    the approval, checks and ticket assertions.
    """

    key = _KEY
    title = "GitHub pull requests merged to default branches"
    version = 4
    params = (
        *GITHUB_PARAMS,
        Param(
            "repositories",
            "list",
            help="Repositories (name or owner/name); empty: all of the organisation.",
        ),
        Param(
            "window_days",
            "integer",
            default=90,
            help="Collect pull requests merged in the last N days.",
        ),
    )
    permissions = ("repo", "read:org")
    columns = (
        Column("pull_request", "string", "owner/name#number (a direct push: owner/name@sha)."),
        Column("change_type", "string", "pull_request, or direct_push (no pull request)."),
        Column("repository", "string", "owner/name."),
        Column("number", "integer", "Pull request number (null for a direct push)."),
        Column("title", "string", "Title (a direct push: its last commit's first line)."),
        Column("url", "string", "The pull request's (or pushed commit's) page."),
        Column("author", "string", "Login of the author (a direct push: the pusher)."),
        Column("base_branch", "string", "The default branch it was merged into."),
        Column("head_branch", "string", "The branch that was merged."),
        Column("head_sha", "string", "Head commit whose checks gated the merge."),
        Column("merge_commit_sha", "string", "The merge (or squash) commit."),
        Column("merged_at", "datetime", "When it was merged (a direct push: pushed)."),
        Column("merged_by", "string", "Login of who merged (or pushed) it."),
        Column("approvers", "json", "Logins approving at merge time (null: reviews not read)."),
        Column("required_checks", "json", "Checks required on the base branch (null: unread)."),
        Column(
            "check_conclusions",
            "json",
            "Conclusion of each required check on the head commit (null: not read).",
        ),
        Column(
            "issue_keys",
            "json",
            "Issue keys (ABC-123) in title, branch or body (a direct push: commit messages); "
            "a key of a ticket_projects project in lower case (abc-123) is recorded upper-cased.",
        ),
        Column("read_error", "string", "What could not be read for this pull request."),
        Column(
            "branch_protection",
            "json",
            "Classic protection of the default branch at collection time: protected, "
            "reviews_required, required_approvals, enforce_admins, bypass_allowances "
            "(null: not read). Proves nothing about earlier settings.",
        ),
        Column(
            "push_events_from",
            "datetime",
            "Direct pushes were looked for in the repository's events back to this time "
            "(the events API keeps 90 days, 300 events; null: events not read).",
        ),
        Column(
            "push_events_cover_window",
            "boolean",
            "The events read reach the window's start, so every push in it was seen.",
        ),
        Column("push_check_error", "string", "Why events or protection could not be read."),
    )
    resource_column = "pull_request"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        """Yield one row per merged pull request or direct push, repository by repository
        (sorted by name): pull requests in the list's order (latest update first), then
        direct pushes oldest first. Rows are yielded, not returned as a list, so the SDK
        coerces them as they come and never holds the raw rows of the whole population."""
        api = GitHubAPI(ctx)
        api.identify()
        since = ctx.now() - timedelta(days=int(ctx.params["window_days"]))
        repos = list_repositories(ctx, api, ctx.params.get("repositories") or [], _REPO_KEEP)
        repos.sort(key=lambda r: str(r["full_name"]).lower())
        for index, repo in enumerate(repos):
            ctx.check_budget()
            name = repo["full_name"]
            try:
                yield from _repository_rows(ctx, api, repo, since)
            except CollectorError as exc:
                if not exc.permanent or str(exc).startswith("HTTP 401"):
                    raise
                ctx.error(f"cannot read pull requests of {name}: {exc}", resource=name,
                          action="github:pulls/list")  # fmt: skip
            ctx.progress(index + 1, len(repos), name)

    @assertion(
        _APPROVED,
        title="Merged pull requests were approved by someone other than the author",
        severity=Severity.HIGH,
        remediation="Require at least one approving review on the default branch (branch "
        "protection or a ruleset) and review the change after the fact with the author's "
        "manager; record the retrospective review.",
        controls=_CONTROLS,
        rationale="An independent approval before a change reaches the main line is the "
        "authorisation and review of changes that CC8.1 and A.8.32 require.",
    )
    def approved_by_another_person(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when an approver other than the author approved before the merge.

        Direct pushes are judged by ``no_direct_pushes``, not here.
        """
        if row["change_type"] != PULL_REQUEST:
            return None
        where = row["pull_request"]
        if row["approvers"] is None:
            return Outcome(Status.ERROR, f"Reviews of {where} could not be read: "
                           f"{row['read_error']}.")  # fmt: skip
        others = [login for login in row["approvers"] if login != row["author"]]
        if others:
            return Outcome(Status.PASS, f"{where} approved by {', '.join(others)}.")
        if row["approvers"]:
            return Outcome(Status.FAIL, f"{where} was approved only by its author "
                           f"{row['author']}.")  # fmt: skip
        return Outcome(Status.FAIL, f"{where} was merged by {row['merged_by']} without an "
                       f"approving review.")  # fmt: skip

    @assertion(
        _CHECKS,
        title="Required checks passed on merged pull requests",
        severity=Severity.MEDIUM,
        remediation="Keep the required status checks of the default branch and do not let "
        "administrators bypass them; re-run the failed checks on the merged change and "
        "record the outcome.",
        controls=_CONTROLS,
        rationale="Required automated tests passing before a merge show that changes are "
        "tested before they reach production (CC8.1, A.8.32).",
    )
    def required_checks_passed(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when every required check concluded success, neutral or skipped.

        Not applicable (no finding) when the default branch requires no checks: whether it
        should is judged by ``github_repos.default_branch_protected``; direct pushes are
        judged by ``no_direct_pushes``.
        """
        if row["change_type"] != PULL_REQUEST:
            return None
        where = row["pull_request"]
        required = row["required_checks"]
        if required is None or row["check_conclusions"] is None:
            return Outcome(Status.ERROR, f"Required checks of {where} could not be read: "
                           f"{row['read_error']}.")  # fmt: skip
        if not required:
            return None
        conclusions = row["check_conclusions"]
        bad = [f"{name}: {conclusions.get(name) or 'not reported'}" for name in required
               if conclusions.get(name) not in _PASSING]  # fmt: skip
        if bad:
            return Outcome(Status.FAIL, f"{where} merged with required checks not passed "
                           f"({'; '.join(bad)}).")  # fmt: skip
        return Outcome(Status.PASS, f"{where}: {len(required)} required check(s) passed.")

    @assertion(
        _NO_PUSHES,
        title="No direct pushes to default branches",
        severity=Severity.HIGH,
        remediation="Require pull requests with reviews on the default branch, include "
        "administrators (enforce_admins) and remove bypass allowances; review each direct "
        "push after the fact and record who approved it.",
        controls=_CONTROLS,
        rationale="A push that bypasses pull requests reaches production without the review "
        "and testing that CC8.1 and A.8.32 require; the population is only complete when "
        "no change went around it.",
        per="table",
    )
    def no_direct_pushes(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """One outcome per repository with a change in the window (resource owner/name).

        FAIL when a direct push was seen. Otherwise PASS when the events cover the whole
        window, or when classic protection refuses direct pushes (reviews required,
        administrators included, no bypass); WARN when the events reach only part of the
        window and protection does not refuse pushes; ERROR when the events could not be
        read and protection does not refuse pushes. A repository with no change in the
        window has no row and no finding.
        """
        first: dict[str, dict[str, Any]] = {}
        pushes: dict[str, list[str]] = {}
        for row in rows:
            repo = row["repository"]
            first.setdefault(repo, row)
            if row["change_type"] == DIRECT_PUSH:
                pushes.setdefault(repo, []).append(
                    f"{row['head_sha'][:12]} by {row['merged_by']} at {row['merged_at']}"
                )
        for repo, row in first.items():
            branch = f"{repo}:{row['base_branch']}"
            seen = pushes.get(repo)
            if seen:
                listed = "; ".join(seen[:5]) + (
                    f"; and {len(seen) - 5} more" if len(seen) > 5 else ""
                )
                yield Outcome(Status.FAIL, f"{branch}: {len(seen)} direct push(es) not from a "
                              f"merged pull request: {listed}.", repo)  # fmt: skip
                continue
            refuses = protection_refuses_pushes(row["branch_protection"])
            since = row["push_events_from"]
            if row["push_events_cover_window"]:
                note = " and protection refuses them" if refuses else ""
                yield Outcome(Status.PASS, f"{branch}: no direct push among the repository's "
                              f"events since {since}, the whole window{note}.", repo)  # fmt: skip
            elif refuses:
                seen_part = f"events since {since} show none; " if since else ""
                yield Outcome(Status.PASS, f"{branch}: {seen_part}classic protection refuses "
                              "direct pushes (reviews required, administrators included, no "
                              "bypass) as set at collection time.", repo)  # fmt: skip
            elif since is not None:
                yield Outcome(Status.WARN, f"{branch}: no direct push among the events since "
                              f"{since}, but the events API keeps only 90 days and 300 events, "
                              "so earlier pushes in the window are not visible, and branch "
                              "protection does not refuse direct pushes.", repo)  # fmt: skip
            else:
                yield Outcome(Status.ERROR, f"{branch}: the repository's events could not be "
                              f"read ({row['push_check_error']}) and branch protection does not "
                              "refuse direct pushes.", repo)  # fmt: skip

    @assertion(
        _TICKET,
        title="Every change to a default branch cites a ticket",
        severity=Severity.MEDIUM,
        remediation="Put the change ticket's key (e.g. CHG-123) in the pull request title or "
        "branch name (a PR template or a required check helps), and link a ticket to the "
        "change after the fact.",
        controls=_CONTROLS,
        rationale="A ticket per production change is how a change is requested, authorised "
        "and traced (CC8.1, A.8.32); the key links the change to its ticket's approvals "
        "(jira_changes, linear_changes).",
        params=(
            Param(
                "ticket_projects",
                "list",
                help="Project keys (Jira projects, Linear teams) a ticket must belong to, e.g. "
                "CHG, ENG; empty: any upper-case key. When set, a key of these projects in "
                "lower case (Linear's branch eng-42-fix-login, a title 'eng-42: fix') counts too.",
            ),
        ),
    )
    def cites_a_ticket(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when the title, branch or body (commit messages for a direct push) cites an
        issue key of one of ``ticket_projects`` (any upper-case ``ABC-123`` key when none are
        set; with projects set, any of these texts may cite one in lower case, which
        collection recorded in ``issue_keys`` in upper case)."""
        where = row["pull_request"]
        projects = ticket_projects(params["ticket_projects"])
        keys = row["issue_keys"] or []
        matching = [k for k in keys if not projects or k.rsplit("-", 1)[0] in projects]
        if matching:
            return Outcome(Status.PASS, f"{where} cites {', '.join(matching)}.")
        wanted = f" of {', '.join(projects)}" if projects else ""
        other = f" (only {', '.join(keys)})" if keys else ""
        return Outcome(Status.FAIL, f"{where} cites no ticket{wanted}{other}.")


def _read_protection(api: GitHubAPI, owner: str, name: str, branch: str, state: _Branch) -> None:
    """The default branch's classic protection: required checks and what decides pushes."""
    operation = "repos/get-branch-protection"
    response = api.get(operation, "repos", owner, name, "branches", branch, "protection")
    raise_for_auth(response)
    if response.status_code == 404:  # "Branch not protected"
        state.required, state.protection = [], {"protected": False}
        return
    if response.status_code != 200:
        why = f"HTTP {response.status_code} from {operation}: {error_message(response)}"
        state.checks_error = why
        state.events_error = why
        return
    body = response.json()
    checks = body.get("required_status_checks") or {}
    names = set(checks.get("contexts") or [])
    names.update(c.get("context") for c in checks.get("checks") or [] if c.get("context"))
    state.required = sorted(sys.intern(n) for n in names)
    state.protection = _protection_summary(body)


def _read_pushes(
    ctx: CollectionContext, api: GitHubAPI, owner: str, name: str, branch: str,
    since: datetime, state: _Branch,
) -> None:  # fmt: skip
    """PushEvents to ``branch`` since ``since``, and how far back the events reach."""
    ref = f"refs/heads/{branch}"
    read = 0
    oldest: datetime | None = None
    try:
        for event in api.items("activity/list-repo-events", "repos", owner, name, "events"):
            created = _time(event.get("created_at"))
            read += 1
            if created is not None:
                oldest = created if oldest is None else min(oldest, created)
            if created is not None and created < since:
                state.events_from, state.events_cover = since, True
                return
            payload = event.get("payload") or {}
            if event.get("type") == "PushEvent" and payload.get("ref") == ref:
                state.pushes.append(
                    {"head": payload.get("head"), "at": created,
                     "actor": (event.get("actor") or {}).get("login"),
                     "messages": [str(c.get("message") or "")
                                  for c in payload.get("commits") or []]}
                )  # fmt: skip
    except CollectorError as exc:
        if not exc.permanent or str(exc).startswith("HTTP 401"):
            raise
        state.events_error = f"events: {exc}"
        state.pushes.clear()
        return
    # The list ended: fewer than 300 events means all of the last 90 days were returned.
    horizon = ctx.now() - timedelta(days=EVENTS_DAYS)
    if read < EVENTS_MAX:
        state.events_from = max(since, horizon)
        state.events_cover = since >= horizon
    else:
        state.events_from = oldest
        state.events_cover = oldest is not None and oldest <= since


def _repository_rows(
    ctx: CollectionContext, api: GitHubAPI, repo: dict[str, Any], since: datetime
) -> Iterator[dict[str, Any]]:
    """Rows of the changes of one repository since ``since``: pull requests, then pushes."""
    full_name = sys.intern(str(repo["full_name"]))
    owner, name = full_name.split("/", 1)
    branch = sys.intern(str(repo.get("default_branch") or "main"))
    state = _Branch()
    projects = ticket_projects(ctx.thresholds.get(_TICKET, {}).get("ticket_projects"))
    pattern = project_key_pattern(projects)
    _read_protection(api, owner, name, branch, state)
    _read_pushes(ctx, api, owner, name, branch, since, state)
    shared = {
        "repository": full_name,
        "base_branch": branch,
        "required_checks": state.required,
        "branch_protection": state.protection,
        "push_events_from": state.events_from,
        "push_events_cover_window": state.events_cover,
        "push_check_error": state.events_error,
    }
    now = ctx.now()
    merges: set[str] = set()
    pulls = api.items("pulls/list", "repos", owner, name, "pulls", state="closed",
                      base=branch, sort="updated", direction="desc")  # fmt: skip
    for pull in pulls:
        updated = _time(pull.get("updated_at"))
        if updated is not None and updated < since:
            break  # sorted by update, newest first: nothing older can be merged in the window
        merged_at = _time(pull.get("merged_at"))
        if merged_at is None or not since <= merged_at <= now:
            continue
        ctx.check_budget()
        row = _row(api, full_name, pull, merged_at, state, shared, pattern)
        if row["merge_commit_sha"]:
            merges.add(row["merge_commit_sha"])
        yield row
    html = str(repo.get("html_url") or "")
    for push in sorted(state.pushes, key=lambda p: (p["at"] or since, str(p["head"]))):
        head = str(push["head"] or "")
        if not head or head in merges or not push["at"] or push["at"] < since:
            continue
        messages = push["messages"]
        yield {
            **shared,
            "pull_request": f"{full_name}@{head[:12]}",
            "change_type": DIRECT_PUSH,
            "number": None,
            "title": messages[-1].splitlines()[0] if messages and messages[-1] else None,
            "url": f"{html}/commit/{head}" if html else None,
            "author": _name(push["actor"]),
            "head_branch": None,
            "head_sha": head,
            "merge_commit_sha": head,
            "merged_at": push["at"],
            "merged_by": _name(push["actor"]),
            "approvers": None,
            "check_conclusions": None,
            "issue_keys": issue_keys(*messages, projects=pattern),
            "read_error": None,
        }


def _row(
    api: GitHubAPI,
    full_name: str,
    pull: dict[str, Any],
    merged_at: datetime,
    state: _Branch,
    shared: dict[str, Any],
    projects: re.Pattern[str] | None = None,
) -> dict[str, Any]:
    """One row from a pull request of the list, its reviews and its head commit's checks.

    ``projects`` (from :func:`project_key_pattern`) also reads the configured projects'
    keys written in lower case in the title, the head branch name and the body."""
    owner, name = full_name.split("/", 1)
    number = int(pull["number"])
    head = pull.get("head") or {}
    head_sha = head.get("sha")
    head_ref = head.get("ref")
    errors = [state.checks_error] if state.checks_error else []
    try:  # the list omits merged_by; the pull request itself has it
        pull = api.json("pulls/get", "repos", owner, name, "pulls", str(number))
    except CollectorError as exc:
        if not exc.permanent or str(exc).startswith("HTTP 401"):
            raise
        errors.append(f"pull request: {exc}")
    author = (pull.get("user") or {}).get("login")
    approvers: list[str] | None = None
    try:
        reviews = list(api.items("pulls/list-reviews", "repos", owner, name, "pulls",
                                 str(number), "reviews"))  # fmt: skip
        approvers = state.share([sys.intern(a) for a in approvers_at(reviews, merged_at)])
        del reviews
    except CollectorError as exc:
        if not exc.permanent or str(exc).startswith("HTTP 401"):
            raise
        errors.append(f"reviews: {exc}")
    required = state.required
    conclusions: dict[str, str | None] | None = {} if required == [] else None
    if required:
        try:
            conclusions = _conclusions(api, owner, name, str(head_sha), set(required))
        except CollectorError as exc:
            if not exc.permanent or str(exc).startswith("HTTP 401"):
                raise
            errors.append(f"checks: {exc}")
    merged_by = pull.get("merged_by")
    return {
        **shared,
        "pull_request": f"{full_name}#{number}",
        "change_type": PULL_REQUEST,
        "number": number,
        "title": pull.get("title"),
        "url": pull.get("html_url"),
        "author": _name(author),
        "head_branch": head_ref,
        "head_sha": head_sha,
        "merge_commit_sha": pull.get("merge_commit_sha"),
        "merged_at": merged_at,
        "merged_by": _name(merged_by.get("login")) if isinstance(merged_by, dict) else None,
        "approvers": approvers,
        "check_conclusions": state.share(conclusions),
        "issue_keys": issue_keys(pull.get("title"), head_ref, pull.get("body"), projects=projects),
        "read_error": "; ".join(errors) or None,
    }


def _conclusions(
    api: GitHubAPI, owner: str, name: str, sha: str, required: set[str]
) -> dict[str, str | None]:
    """Conclusion of each required check on ``sha``: check runs first, then statuses."""
    found: dict[str, str | None] = {}
    operation = "checks/list-for-ref"
    api.ctx.record_call(f"github:{operation}")
    url = api.url("repos", owner, name, "commits", sha, "check-runs")
    params = {"per_page": "100", "filter": "latest"}
    for page in api.ctx.http_pages(url, headers=api.headers, params=params):
        if not isinstance(page, dict):
            raise CollectorError(f"unexpected response from {operation}", permanent=True)
        for run in page.get("check_runs") or []:
            if run.get("name") in required and run["name"] not in found:
                found[run["name"]] = run.get("conclusion") or run.get("status")
    if required - set(found):
        status = api.json("repos/get-combined-status-for-ref", "repos", owner, name,
                          "commits", sha, "status")  # fmt: skip
        for item in status.get("statuses") or []:
            context = item.get("context")
            if context in required and context not in found:
                found[context] = item.get("state")
    values = {check: found.get(check) for check in sorted(required)}
    return {check: sys.intern(str(v)) if v else None for check, v in values.items()}
