"""GitHub repositories: protection of each repository's default branch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

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

_ASSERTION = "github_repos.default_branch_protected"
_RULES_OPERATION = "repos/get-branch-rules"
_RULES_PER_PAGE = "100"
_MAX_RULE_PAGES = 100


@register
class GithubReposCollector(Collector):
    """Branch protection of the default branch of selected GitHub repositories.

    Calls: ``GET /orgs/{org}/repos`` (when ``repos`` is empty: every repository of the
    organisation) or ``GET /repos/{owner}/{repo}`` for each selected one, then for the
    default branch ``GET /repos/{owner}/{repo}/branches/{branch}/protection`` (classic branch
    protection; 404 "Branch not protected" means unprotected) and ``GET
    /repos/{owner}/{repo}/rules/branches/{branch}`` (Link-paginated: the active rules of every
    repository, organisation and enterprise ruleset that targets the branch; rulesets in
    "evaluate" mode are not returned and do not count). The token needs read access to the
    repositories' administration settings (classic: ``repo``; fine-grained: Administration
    and Metadata read). A repository that cannot be read is an ERROR for that repository
    only; a bad token fails the run.

    Classic protection and rulesets are layered, the stricter one wins, so the row holds the
    effective values: pull requests are required when either requires them,
    ``required_approvals`` is the highest count of either, and force pushes are blocked when
    classic protection disallows them (``allow_force_pushes.enabled`` false) or a
    ``non_fast_forward`` rule applies. ``protection_source`` says where the protection comes
    from (``classic``, ``rulesets``, ``both`` or ``none``); ``rulesets`` lists the rulesets
    that apply, with their rule types. ``enforce_admins`` reflects classic protection only
    (the bypass lists of rulesets are not visible on this endpoint).

    A 404 on the rules endpoint (GitHub Enterprise Server without rulesets) means no
    rulesets. Any other failure to read the rules (e.g. 403, token without the scope) is
    recorded in ``rulesets_error`` and never turns into a PASS on its own: since rulesets can
    only add restrictions, the check keeps the classic result when classic protection alone
    satisfies it (PASS, the message names the unread endpoint), and is an ERROR naming the
    endpoint otherwise. When classic protection cannot be read (other than "Branch not
    protected"), the repository is an ERROR and its rules are not read.

    Example row: ``acme-corp/api``, default branch ``main``, private, protected by classic
    protection, pull requests required with 2 approvals, stale reviews dismissed, force
    pushes and deletions blocked: it passes ``github_repos.default_branch_protected``.
    """

    key = "github_repos"
    title = "GitHub default-branch protection"
    version = 2
    params = (
        *GITHUB_PARAMS,
        Param("repos", "list", help="Repositories (name or owner/name); empty: all of the org."),
    )
    permissions = ("repo", "read:org")
    columns = (
        Column("repository", "string", "owner/name."),
        Column("default_branch", "string", "Name of the default branch."),
        Column("visibility", "string", "public, private or internal."),
        Column("archived", "boolean", "Archived repositories are read-only (not assessed)."),
        Column("protected", "boolean", "Classic branch protection or an active ruleset applies."),
        Column(
            "protection_source",
            "string",
            "Where the protection comes from: classic, rulesets, both or none.",
        ),
        Column("pull_request_required", "boolean", "Changes must come through a pull request."),
        Column("required_approvals", "integer", "Approving reviews required to merge (effective)."),
        Column("dismiss_stale_reviews", "boolean", "New pushes dismiss earlier approvals."),
        Column("require_code_owner_reviews", "boolean", "Code owners must approve."),
        Column(
            "force_push_blocked",
            "boolean",
            "Force pushes are refused (classic protection or a non_fast_forward rule).",
        ),
        Column(
            "deletion_blocked",
            "boolean",
            "The branch cannot be deleted (classic protection or a deletion rule).",
        ),
        Column("enforce_admins", "boolean", "Classic protection applies to administrators too."),
        Column("required_status_checks", "json", "Status check contexts required to pass."),
        Column(
            "rulesets",
            "json",
            "Active rulesets on the branch: id, source type, source and rule types "
            "(null: not read).",
        ),
        Column(
            "rulesets_error",
            "string",
            "Why the branch's rules could not be read (null: read, or no rulesets).",
        ),
    )
    resource_column = "repository"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per readable repository, sorted by owner/name."""
        api = GitHubAPI(ctx)
        api.identify()
        rows = []
        repos = list_repositories(ctx, api, ctx.params.get("repos") or [])
        for index, repo in enumerate(repos):
            ctx.check_budget()
            row = self._protection(ctx, api, repo)
            if row is not None:
                rows.append(row)
            ctx.progress(index + 1, len(repos), repo["full_name"])
        return sorted(rows, key=lambda r: r["repository"].lower())

    @staticmethod
    def _protection(
        ctx: CollectionContext, api: GitHubAPI, repo: dict[str, Any]
    ) -> dict[str, Any] | None:
        owner, name = repo["full_name"].split("/", 1)
        branch = repo.get("default_branch") or "main"
        row: dict[str, Any] = {
            "repository": repo["full_name"],
            "default_branch": branch,
            "visibility": repo.get("visibility")
            or ("private" if repo.get("private") else "public"),
            "archived": bool(repo.get("archived")),
        }
        operation = "repos/get-branch-protection"
        response = api.get(operation, "repos", owner, name, "branches", branch, "protection")
        raise_for_auth(response)
        message = error_message(response) if response.status_code >= 400 else ""
        if response.status_code == 404 and message == "Branch not protected":
            classic: dict[str, Any] | None = None
        elif response.status_code != 200:
            ctx.error(
                f"cannot read protection of {repo['full_name']}:{branch}: {message}",
                action=f"github:{operation}",
                resource=repo["full_name"],
            )
            return row
        else:
            try:
                classic = _protection_columns(response.json())
            except (ValueError, AttributeError, TypeError) as exc:
                raise CollectorError(f"unexpected branch protection body: {exc}") from None
        rules, rules_error = _branch_rules(ctx, api, owner, name, branch)
        try:
            row.update(_effective_columns(classic, rules))
        except (AttributeError, TypeError, ValueError) as exc:
            raise CollectorError(f"unexpected branch rules body: {exc}") from None
        row["rulesets_error"] = rules_error
        return row

    @assertion(
        _ASSERTION,
        title="Default branches require reviewed pull requests and refuse force pushes",
        severity=Severity.HIGH,
        remediation="Protect the default branch (classic branch protection or a ruleset): "
        "require a pull request with at least one approving review, and block force pushes.",
        controls=("soc2-2017:CC8.1", "iso27001-2022:A.8.32", "iso27001-2022:A.8.4"),
        rationale="Reviewed, non-rewritable changes to the main line are change management "
        "(CC8.1, A.8.32) and control write access to source code (A.8.4).",
        params=(Param("min_approvals", "integer", default=1, help="Approvals required."),),
    )
    def default_branch_protected(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Archived repositories are skipped; every gap is named in the FAIL message.

        Unreadable rulesets (``rulesets_error``) only pass when the classic protection that
        was read satisfies the check on its own; otherwise they are an ERROR.
        """
        if row["archived"]:
            return None
        where = f"{row['repository']}:{row['default_branch']}"
        if row["protected"] is None:
            return Outcome(Status.ERROR, f"Protection of {where} could not be read.")
        unread = row.get("rulesets_error")
        gaps = []
        if not row["pull_request_required"]:
            gaps.append("pull requests are not required")
        elif (row["required_approvals"] or 0) < params["min_approvals"]:
            gaps.append(f"{row['required_approvals']} approvals required "
                        f"(at least {params['min_approvals']})")  # fmt: skip
        if not row["force_push_blocked"]:
            gaps.append("force pushes are allowed")
        if gaps and unread:
            return Outcome(Status.ERROR, f"{where}: {'; '.join(gaps)} as far as classic "
                           f"protection shows, and the rulesets could not be read: "
                           f"{unread}.")  # fmt: skip
        if not row["protected"]:
            return Outcome(Status.FAIL, f"{where} is not protected.")
        if gaps:
            return Outcome(Status.FAIL, f"{where}: {'; '.join(gaps)} "
                           f"(protection: {row['protection_source']}).")  # fmt: skip
        note = f"; rulesets not read: {unread}" if unread else ""
        return Outcome(Status.PASS, f"{where} requires {row['required_approvals']} approval(s) "
                       f"and refuses force pushes (protection: {row['protection_source']}"
                       f"{note}).")  # fmt: skip


def _enabled(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    return bool(value.get("enabled")) if isinstance(value, dict) else None


def _protection_columns(body: dict[str, Any]) -> dict[str, Any]:
    """Columns from a classic branch protection body (``get-branch-protection``)."""
    reviews = body.get("required_pull_request_reviews")
    checks = body.get("required_status_checks") or {}
    contexts = checks.get("contexts") or [c.get("context") for c in checks.get("checks") or []]
    return {
        "pull_request_required": reviews is not None,
        "required_approvals": (reviews or {}).get("required_approving_review_count"),
        "dismiss_stale_reviews": (reviews or {}).get("dismiss_stale_reviews"),
        "require_code_owner_reviews": (reviews or {}).get("require_code_owner_reviews"),
        "force_push_blocked": _enabled(body, "allow_force_pushes") is False,
        "deletion_blocked": _enabled(body, "allow_deletions") is False,
        "enforce_admins": _enabled(body, "enforce_admins"),
        "required_status_checks": [c for c in contexts if c],
    }


def _branch_rules(
    ctx: CollectionContext, api: GitHubAPI, owner: str, name: str, branch: str
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """All active rules on the branch: ``(rules, None)``, or ``(None, why)`` if unreadable.

    A 404 on the first page (no rulesets on this server) is ``([], None)``; 401 fails the run.
    """
    ctx.record_call(f"github:{_RULES_OPERATION}")
    url: str | None = api.url("repos", owner, name, "rules", "branches", branch)
    params: dict[str, str] | None = {"per_page": _RULES_PER_PAGE}
    endpoint = f"GET /repos/{owner}/{name}/rules/branches/{branch}"
    rules: list[dict[str, Any]] = []
    seen: set[str] = set()
    while url is not None:
        if len(seen) >= _MAX_RULE_PAGES:
            return None, f"{endpoint} returned more than {_MAX_RULE_PAGES} pages"
        seen.add(url)
        response = ctx.http.get(url, headers=api.headers, params=params)
        params = None  # the next link carries the query
        raise_for_auth(response)
        if response.status_code == 404 and not rules and len(seen) == 1:
            return [], None
        if response.status_code != 200:
            return None, f"HTTP {response.status_code} from {endpoint}: {error_message(response)}"
        try:
            page = response.json()
        except ValueError:
            page = None
        if not isinstance(page, list):
            return None, f"unexpected response from {endpoint}"
        rules.extend(rule for rule in page if isinstance(rule, dict))
        link = response.links.get("next", {}).get("url")
        candidate = urljoin(response.url, link) if link else None
        url = candidate if candidate not in seen else None
    return rules, None


def _any(values: list[Any]) -> bool | None:
    """True if any value is true, False if one is false, None if none is known."""
    known = [bool(v) for v in values if v is not None]
    return any(known) if known else None


def _effective_columns(
    classic: dict[str, Any] | None, rules: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Combine classic protection (None: not protected) and ruleset rules (None: unread)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    rulesets: dict[tuple[str, str, int], set[str]] = {}
    for rule in rules or []:
        kind = str(rule.get("type") or "")
        by_type.setdefault(kind, []).append(rule.get("parameters") or {})
        key = (
            str(rule.get("ruleset_source_type") or ""),
            str(rule.get("ruleset_source") or ""),
            int(rule.get("ruleset_id") or 0),
        )
        rulesets.setdefault(key, set()).add(kind)
    pull_requests = by_type.get("pull_request", [])
    base = classic or {}
    approvals = [base.get("required_approvals")] if base.get("pull_request_required") else []
    approvals += [p.get("required_approving_review_count") or 0 for p in pull_requests]
    checks = set(base.get("required_status_checks") or [])
    for parameters in by_type.get("required_status_checks", []):
        checks.update(c.get("context") for c in parameters.get("required_status_checks") or [] if c)
    sources = [name for name, on in (("classic", classic), ("rulesets", rulesets)) if on]
    return {
        "protected": bool(sources),
        "protection_source": "both" if len(sources) == 2 else (sources or ["none"])[0],
        "pull_request_required": bool(base.get("pull_request_required") or pull_requests),
        "required_approvals": max((a or 0 for a in approvals), default=None),
        "dismiss_stale_reviews": _any(
            [base.get("dismiss_stale_reviews")]
            + [p.get("dismiss_stale_reviews_on_push") for p in pull_requests]
        ),
        "require_code_owner_reviews": _any(
            [base.get("require_code_owner_reviews")]
            + [p.get("require_code_owner_review") for p in pull_requests]
        ),
        "force_push_blocked": bool(base.get("force_push_blocked") or "non_fast_forward" in by_type),
        "deletion_blocked": bool(base.get("deletion_blocked") or "deletion" in by_type),
        "enforce_admins": base.get("enforce_admins") if classic else None,
        "required_status_checks": sorted(c for c in checks if c),
        "rulesets": None
        if rules is None
        else [
            {"ruleset_id": rid, "source_type": stype, "source": source, "rules": sorted(kinds)}
            for (stype, source, rid), kinds in sorted(rulesets.items(), key=lambda i: i[0][2])
        ],
    }
