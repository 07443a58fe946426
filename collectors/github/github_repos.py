"""GitHub repositories: protection of each repository's default branch."""

from __future__ import annotations

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
    Status,
    assertion,
    register,
)
from collectors.github._api import GITHUB_PARAMS, GitHubAPI, error_message, raise_for_auth

_ASSERTION = "github_repos.default_branch_protected"


@register
class GithubReposCollector(Collector):
    """Branch protection of the default branch of selected GitHub repositories.

    Calls: ``GET /orgs/{org}/repos`` (when ``repos`` is empty: every repository of the
    organisation) or ``GET /repos/{owner}/{repo}`` for each selected one, then ``GET
    /repos/{owner}/{repo}/branches/{default_branch}/protection`` (classic branch protection;
    404 "Branch not protected" means unprotected). The token needs read access to the
    repositories' administration settings (classic: ``repo``; fine-grained: Administration
    read). A repository that cannot be read is an ERROR for that repository only; a bad token
    fails the run. Repository rulesets are not read (yet): a branch protected only by a
    ruleset shows as unprotected.

    Example row: ``acme-corp/api``, default branch ``main``, private, protected, pull requests
    required with 2 approvals, stale reviews dismissed, force pushes and deletions refused:
    it passes ``github_repos.default_branch_protected``.
    """

    key = "github_repos"
    title = "GitHub default-branch protection"
    version = 1
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
        Column("protected", "boolean", "Classic branch protection is configured."),
        Column("pull_request_required", "boolean", "Changes must come through a pull request."),
        Column("required_approvals", "integer", "Approving reviews required to merge."),
        Column("dismiss_stale_reviews", "boolean", "New pushes dismiss earlier approvals."),
        Column("require_code_owner_reviews", "boolean", "Code owners must approve."),
        Column("allow_force_pushes", "boolean", "Force pushes to the branch are allowed."),
        Column("allow_deletions", "boolean", "The branch may be deleted."),
        Column("enforce_admins", "boolean", "Rules apply to administrators too."),
        Column("required_status_checks", "json", "Status check contexts required to pass."),
    )
    resource_column = "repository"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per readable repository, sorted by owner/name."""
        api = GitHubAPI(ctx)
        api.identify()
        rows = []
        repos = self._repositories(ctx, api)
        for index, repo in enumerate(repos):
            ctx.check_budget()
            row = self._protection(ctx, api, repo)
            if row is not None:
                rows.append(row)
            ctx.progress(index + 1, len(repos), repo["full_name"])
        return sorted(rows, key=lambda r: r["repository"].lower())

    @staticmethod
    def _repositories(ctx: CollectionContext, api: GitHubAPI) -> list[dict[str, Any]]:
        selected = ctx.params.get("repos") or []
        if not selected:
            return list(api.items("repos/list-for-org", "orgs", api.org, "repos", type="all"))
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
            repos.append(response.json())
        return repos

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
            row.update(
                protected=False,
                pull_request_required=False,
                allow_force_pushes=True,
                allow_deletions=True,
            )
            return row
        if response.status_code != 200:
            ctx.error(
                f"cannot read protection of {repo['full_name']}:{branch}: {message}",
                action=f"github:{operation}",
                resource=repo["full_name"],
            )
            return row
        try:
            row.update(_protection_columns(response.json()))
        except (ValueError, AttributeError, TypeError) as exc:
            raise CollectorError(f"unexpected branch protection body: {exc}") from None
        return row

    @assertion(
        _ASSERTION,
        title="Default branches require reviewed pull requests and refuse force pushes",
        severity=Severity.HIGH,
        remediation="Protect the default branch: require a pull request with at least one "
        "approving review, and do not allow force pushes.",
        controls=("soc2-2017:CC8.1", "iso27001-2022:A.8.32", "iso27001-2022:A.8.4"),
        rationale="Reviewed, non-rewritable changes to the main line are change management "
        "(CC8.1, A.8.32) and control write access to source code (A.8.4).",
        params=(Param("min_approvals", "integer", default=1, help="Approvals required."),),
    )
    def default_branch_protected(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Archived repositories are skipped; every gap is named in the FAIL message."""
        if row["archived"]:
            return None
        where = f"{row['repository']}:{row['default_branch']}"
        if row["protected"] is None:
            return Outcome(Status.ERROR, f"Protection of {where} could not be read.")
        if not row["protected"]:
            return Outcome(Status.FAIL, f"{where} is not protected.")
        gaps = []
        if not row["pull_request_required"]:
            gaps.append("pull requests are not required")
        elif (row["required_approvals"] or 0) < params["min_approvals"]:
            gaps.append(f"{row['required_approvals']} approvals required "
                        f"(at least {params['min_approvals']})")  # fmt: skip
        if row["allow_force_pushes"]:
            gaps.append("force pushes are allowed")
        if gaps:
            return Outcome(Status.FAIL, f"{where}: {'; '.join(gaps)}.")
        return Outcome(Status.PASS, f"{where} requires {row['required_approvals']} approval(s) "
                       "and refuses force pushes.")  # fmt: skip


def _enabled(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    return bool(value.get("enabled")) if isinstance(value, dict) else None


def _protection_columns(body: dict[str, Any]) -> dict[str, Any]:
    reviews = body.get("required_pull_request_reviews")
    checks = body.get("required_status_checks") or {}
    contexts = checks.get("contexts") or [c.get("context") for c in checks.get("checks") or []]
    return {
        "protected": True,
        "pull_request_required": reviews is not None,
        "required_approvals": (reviews or {}).get("required_approving_review_count"),
        "dismiss_stale_reviews": (reviews or {}).get("dismiss_stale_reviews"),
        "require_code_owner_reviews": (reviews or {}).get("require_code_owner_reviews"),
        "allow_force_pushes": _enabled(body, "allow_force_pushes"),
        "allow_deletions": _enabled(body, "allow_deletions"),
        "enforce_admins": _enabled(body, "enforce_admins"),
        "required_status_checks": sorted(c for c in contexts if c),
    }
