"""GitHub pull requests merged into each repository's default branch: the change population."""

from __future__ import annotations

import re
from collections.abc import Iterator
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
from collectors.github._api import GITHUB_PARAMS, GitHubAPI, error_message, raise_for_auth

_KEY = "github_pull_requests"
_APPROVED = f"{_KEY}.approved_by_another_person"
_CHECKS = f"{_KEY}.required_checks_passed"
_CONTROLS = ("soc2-2017:CC8.1", "iso27001-2022:A.8.32")
#: Review states that set a reviewer's verdict (COMMENTED and PENDING do not change it).
_VERDICTS = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}
#: Conclusions GitHub accepts for a required check (check runs and commit statuses).
_PASSING = {"success", "neutral", "skipped"}
#: Issue keys such as ``ABC-123`` (Jira, Linear, YouTrack style).
ISSUE_KEY_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z][A-Z0-9]{1,9}-[1-9][0-9]*)(?![A-Za-z0-9])")


def _time(value: Any) -> datetime | None:
    """GitHub's ``2026-11-30T10:00:00Z`` as an aware datetime (None when absent)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def issue_keys(*texts: str | None) -> list[str]:
    """Sorted, distinct issue keys (``ABC-123``) found in the texts."""
    return sorted({key for text in texts if text for key in ISSUE_KEY_RE.findall(text)})


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


@register
class GithubPullRequestsCollector(Collector):
    """Pull requests merged into each repository's default branch within a window.

    Calls (GitHub REST): ``GET /user``; ``GET /orgs/{org}/repos`` (when ``repositories`` is
    empty: every repository of the organisation) or ``GET /repos/{owner}/{repo}`` for each
    selected one; for each repository ``GET
    /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks`` (the required
    checks of the default branch; 404 means none are required) and ``GET
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
    (``ABC-123``) are taken from the title, the head branch name and the body; the body
    itself is not kept. Only one row per pull request is held in memory: each page of pull
    requests and each review or check payload is dropped once its row is built.

    A repository that cannot be read (403, 404) is an ERROR for that repository and the
    others go on; a bad token (401) fails the run. When a pull request's reviews or checks
    cannot be read, its ``read_error`` says so and the assertion that needs them is an ERROR.

    Example row: ``acme-corp/api#42`` by ``alice``, merged by ``bob`` on 2026-11-30, approved
    by ``bob``, required checks ``ci/test: success``, issue keys ``["PAY-12"]``: it passes
    both assertions.
    """

    key = _KEY
    title = "GitHub pull requests merged to default branches"
    version = 1
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
        Column("pull_request", "string", "owner/name#number."),
        Column("repository", "string", "owner/name."),
        Column("number", "integer", "Pull request number."),
        Column("title", "string", "Title."),
        Column("url", "string", "The pull request's page."),
        Column("author", "string", "Login of the author."),
        Column("base_branch", "string", "The default branch it was merged into."),
        Column("head_branch", "string", "The branch that was merged."),
        Column("head_sha", "string", "Head commit whose checks gated the merge."),
        Column("merge_commit_sha", "string", "The merge (or squash) commit."),
        Column("merged_at", "datetime", "When it was merged."),
        Column("merged_by", "string", "Login of who merged it."),
        Column("approvers", "json", "Logins approving at merge time (null: reviews not read)."),
        Column("required_checks", "json", "Checks required on the base branch (null: unread)."),
        Column(
            "check_conclusions",
            "json",
            "Conclusion of each required check on the head commit (null: not read).",
        ),
        Column("issue_keys", "json", "Issue keys (ABC-123) in title, branch or body."),
        Column("read_error", "string", "What could not be read for this pull request."),
    )
    resource_column = "pull_request"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per merged pull request, sorted by repository then number."""
        api = GitHubAPI(ctx)
        api.identify()
        since = ctx.now() - timedelta(days=int(ctx.params["window_days"]))
        repos = _repositories(ctx, api)
        rows: list[dict[str, Any]] = []
        for index, repo in enumerate(repos):
            ctx.check_budget()
            name = repo["full_name"]
            try:
                rows.extend(_repository_rows(ctx, api, repo, since))
            except CollectorError as exc:
                if not exc.permanent or str(exc).startswith("HTTP 401"):
                    raise
                ctx.error(f"cannot read pull requests of {name}: {exc}", resource=name,
                          action="github:pulls/list")  # fmt: skip
            ctx.progress(index + 1, len(repos), name)
        return sorted(rows, key=lambda r: (r["repository"].lower(), r["number"]))

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
    def approved_by_another_person(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when an approver other than the author approved before the merge."""
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
        should is judged by ``github_repos.default_branch_protected``.
        """
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


def _repositories(ctx: CollectionContext, api: GitHubAPI) -> list[dict[str, Any]]:
    """The repositories to read, as small dicts (full_name, default_branch, archived)."""
    selected = ctx.params.get("repositories") or []
    keep = ("full_name", "default_branch", "archived")
    if not selected:
        return [
            {k: repo.get(k) for k in keep}
            for repo in api.items("repos/list-for-org", "orgs", api.org, "repos", type="all")
        ]
    repos = []
    for name in selected:
        owner, _, repo = name.rpartition("/")
        owner = owner or api.org
        response = api.get("repos/get", "repos", owner, repo)
        raise_for_auth(response)
        if response.status_code != 200:
            ctx.error(
                f"cannot read repository {owner}/{repo}: {error_message(response)}",
                action="github:repos/get",
                resource=f"{owner}/{repo}",
            )
            continue
        body = response.json()
        repos.append({k: body.get(k) for k in keep})
    return repos


def _required_checks(
    api: GitHubAPI, owner: str, name: str, branch: str
) -> tuple[list[str] | None, str | None]:
    """The default branch's required check names: ``(names, None)`` or ``(None, why)``."""
    operation = "repos/get-status-checks-protection"
    path = ("repos", owner, name, "branches", branch, "protection", "required_status_checks")
    response = api.get(operation, *path)
    raise_for_auth(response)
    if response.status_code == 404:
        return [], None  # branch not protected, or no required status checks
    if response.status_code != 200:
        return None, f"HTTP {response.status_code} from {operation}: {error_message(response)}"
    body = response.json()
    names = set(body.get("contexts") or [])
    names.update(c.get("context") for c in body.get("checks") or [] if c.get("context"))
    return sorted(names), None


def _repository_rows(
    ctx: CollectionContext, api: GitHubAPI, repo: dict[str, Any], since: datetime
) -> Iterator[dict[str, Any]]:
    """Rows of the pull requests of one repository merged since ``since``."""
    owner, name = repo["full_name"].split("/", 1)
    branch = repo.get("default_branch") or "main"
    required, checks_error = _required_checks(api, owner, name, branch)
    now = ctx.now()
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
        yield _row(ctx, api, repo["full_name"], pull, merged_at, required, checks_error)


def _row(
    ctx: CollectionContext,
    api: GitHubAPI,
    full_name: str,
    pull: dict[str, Any],
    merged_at: datetime,
    required: list[str] | None,
    checks_error: str | None,
) -> dict[str, Any]:
    """One row from a pull request of the list, its reviews and its head commit's checks."""
    owner, name = full_name.split("/", 1)
    number = int(pull["number"])
    head = pull.get("head") or {}
    head_sha = head.get("sha")
    errors = [checks_error] if checks_error else []
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
        approvers = approvers_at(reviews, merged_at)
    except CollectorError as exc:
        if not exc.permanent or str(exc).startswith("HTTP 401"):
            raise
        errors.append(f"reviews: {exc}")
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
        "pull_request": f"{full_name}#{number}",
        "repository": full_name,
        "number": number,
        "title": pull.get("title"),
        "url": pull.get("html_url"),
        "author": author,
        "base_branch": (pull.get("base") or {}).get("ref"),
        "head_branch": head.get("ref"),
        "head_sha": head_sha,
        "merge_commit_sha": pull.get("merge_commit_sha"),
        "merged_at": merged_at,
        "merged_by": merged_by.get("login") if isinstance(merged_by, dict) else None,
        "approvers": approvers,
        "required_checks": required,
        "check_conclusions": conclusions,
        "issue_keys": issue_keys(pull.get("title"), head.get("ref"), pull.get("body")),
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
    return {check: found.get(check) for check in sorted(required)}
