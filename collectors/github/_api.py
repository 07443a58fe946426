"""A thin GitHub REST client over ``ctx.http``: auth headers, Link pagination, provenance.

Rate limits (403 with ``X-RateLimit-Remaining: 0``, 429, ``Retry-After``) are honoured by the
SDK's HTTP session within the time budget. Every call is recorded as ``github:<operation>``
using GitHub's OpenAPI operation ids (``orgs/list-members``, ``repos/get-branch-protection``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from collectors import CollectionContext, CollectorError, Param
from collectors._http import check_response

__all__ = ["GITHUB_PARAMS", "GitHubAPI", "error_message", "raise_for_auth"]

GITHUB_PARAMS: tuple[Param, ...] = (
    Param("org", "string", required=True, help="Organisation login, e.g. acme-corp."),
    Param(
        "token",
        "string",
        required=True,
        secret=True,
        help="Token of an organisation owner (classic: read:org + admin:org read; "
        "fine-grained: Members and Administration read).",
    ),
    Param(
        "base_url",
        "string",
        default="https://api.github.com",
        help="REST API root; for GitHub Enterprise Server https://<host>/api/v3.",
        destination=True,
    ),
)
_PER_PAGE = 100


class GitHubAPI:
    """GitHub calls for one collection: ``get``, ``json`` and ``items`` (all pages)."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.org = str(ctx.params["org"])
        self.base_url = str(ctx.params["base_url"]).rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {ctx.params['token']}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "pixaudit-collector",
        }

    def url(self, *parts: str) -> str:
        """Absolute URL of the path made of ``parts`` (each one URL-quoted)."""
        return self.base_url + "/" + "/".join(quote(p, safe="") for p in parts)

    def get(self, operation: str, *parts: str) -> requests.Response:
        """GET without raising on error statuses (for endpoints where 404 means something)."""
        self.ctx.record_call(f"github:{operation}")
        return self.ctx.http.get(self.url(*parts), headers=self.headers)

    def json(self, operation: str, *parts: str) -> Any:
        """GET and return the JSON body; error statuses raise :class:`CollectorError`."""
        self.ctx.record_call(f"github:{operation}")
        return self.ctx.http_json("GET", self.url(*parts), headers=self.headers)

    def items(self, operation: str, *parts: str, **query: str) -> Iterator[dict[str, Any]]:
        """Every item of a Link-paginated list endpoint."""
        self.ctx.record_call(f"github:{operation}")
        params = {"per_page": str(_PER_PAGE), **query}
        for page in self.ctx.http_pages(self.url(*parts), headers=self.headers, params=params):
            if not isinstance(page, list):
                raise CollectorError(f"unexpected response from {operation}", permanent=False)
            yield from page

    def identify(self) -> None:
        """Set ``ctx.identity`` to the token's user (``github:<login>``)."""
        me = self.json("users/get-authenticated", "user")
        self.ctx.identity = f"github:{me.get('login')}"


def raise_for_auth(response: requests.Response) -> None:
    """Raise the SDK's permanent error on 401: a bad token fails the whole run."""
    if response.status_code == 401:
        check_response(response)


def error_message(response: requests.Response) -> str:
    """GitHub's ``message`` from an error body (or the HTTP reason)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or response.reason or f"HTTP {response.status_code}")


def list_repositories(
    ctx: CollectionContext,
    api: GitHubAPI,
    selected: list[str] | None,
    keep: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The repositories a GitHub collector reads, shared by the collectors of this package.

    With ``selected`` empty: every repository of the organisation (``GET /orgs/{org}/repos``,
    ``type=all``, Link-paginated). Otherwise ``GET /repos/{owner}/{repo}`` for each name
    (``repo`` or ``owner/repo``; a bare name belongs to ``org``): one that cannot be read is
    recorded with ``ctx.error`` for ``owner/repo`` (the others go on) and a 401 fails the run.
    ``keep`` trims each repository to those keys (a few bytes instead of GitHub's ~6 KB body).
    """

    def trim(body: dict[str, Any]) -> dict[str, Any]:
        return body if keep is None else {k: body.get(k) for k in keep}

    if not selected:
        listed = api.items("repos/list-for-org", "orgs", api.org, "repos", type="all")
        return [trim(repo) for repo in listed]
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
        repos.append(trim(response.json()))
    return repos


__all__ += ["list_repositories"]
