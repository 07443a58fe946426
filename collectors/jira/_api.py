"""A thin Jira Cloud REST v3 client over ``ctx.http``: basic auth, token pagination, errors.

Authentication is an Atlassian account's email and API token (HTTP basic auth), which the
SDK only sends over HTTPS (plain HTTP only to loopback fixture servers in tests); the token
is a secret param and the encoded ``Authorization`` value is registered for redaction too.
Rate limits (429 with ``Retry-After``, and 503) are retried by the SDK's HTTP session within
the time budget. Every call is recorded as ``jira:<operation>`` (the operation ids of
Atlassian's OpenAPI document, e.g. ``searchAndReconsileIssuesUsingJql``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from collectors import CollectionContext, CollectorError, Param
from collectors._http import check_response, check_response_reworded

__all__ = ["JIRA_PARAMS", "JiraAPI", "jira_error"]

JIRA_PARAMS: tuple[Param, ...] = (
    Param(
        "base_url",
        "string",
        required=True,
        help="Jira Cloud site, e.g. https://acme.atlassian.net.",
        destination=True,
    ),
    Param(
        "email",
        "string",
        required=True,
        help="Email of the Atlassian account whose API token is used (a read-only user).",
    ),
    Param(
        "api_token",
        "string",
        required=True,
        secret=True,
        help="API token of that account (id.atlassian.com > Security > API tokens).",
    ),
)
#: Issues per search page (Jira Cloud returns at most 100 with a changelog).
PAGE_SIZE = 100
#: A search longer than this many pages is refused rather than cut short.
MAX_PAGES = 10_000


def jira_error(response: requests.Response) -> str:
    """Jira's ``errorMessages`` and ``errors`` of a failed response (or the HTTP status)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        parts += [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
    detail = "; ".join(parts) or response.reason or ""
    return f"HTTP {response.status_code}: {detail}".rstrip(": ")


class JiraAPI:
    """Jira calls for one collection: ``get`` (no raise), ``json`` and ``search`` pages."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.base_url = str(ctx.params["base_url"]).rstrip("/")
        pair = f"{ctx.params['email']}:{ctx.params['api_token']}".encode()
        encoded = base64.b64encode(pair).decode("ascii")
        ctx.add_secret(encoded)
        self.headers = {
            "Authorization": f"Basic {encoded}",
            "Accept": "application/json",
            "User-Agent": "pixaudit-collector",
        }

    def url(self, *parts: str) -> str:
        """Absolute URL under ``/rest/api/3`` of ``parts`` (each URL-quoted)."""
        return "/".join([self.base_url, "rest", "api", "3", *(quote(p, safe="") for p in parts)])

    def get(self, operation: str, *parts: str, **query: str) -> requests.Response:
        """GET without raising on error statuses, except 401 (a bad token fails the run)."""
        self.ctx.record_call(f"jira:{operation}")
        response = self.ctx.http.get(self.url(*parts), headers=self.headers, params=query)
        if response.status_code == 401:
            check_response(response)
        return response

    def json(self, operation: str, *parts: str, **query: str) -> Any:
        """GET and return the JSON body; an error status raises :class:`CollectorError`
        carrying Jira's own message (e.g. a project that does not exist)."""
        response = self.get(operation, *parts, **query)
        check_response_reworded(response, lambda _: f"{jira_error(response)} ({operation})")
        try:
            return response.json()
        except ValueError:
            raise CollectorError(f"invalid JSON from {operation}", permanent=False) from None

    def identify(self) -> None:
        """Set ``ctx.identity`` to the account (``jira:<email or accountId>``)."""
        me = self.json("getCurrentUser", "myself")
        self.ctx.identity = f"jira:{me.get('emailAddress') or me.get('accountId')}"

    def search(self, jql: str, fields: list[str], expand: str = "") -> Iterator[dict[str, Any]]:
        """Every issue the JQL matches: ``GET /rest/api/3/search/jql``, ``nextPageToken``
        pagination (the enhanced search that replaced ``/search``'s ``startAt``)."""
        query = {"jql": jql, "fields": ",".join(fields), "maxResults": str(PAGE_SIZE)}
        if expand:
            query["expand"] = expand
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page_query = {**query, "nextPageToken": token} if token else query
            page = self.json("searchAndReconsileIssuesUsingJql", "search", "jql", **page_query)
            if not isinstance(page, dict) or not isinstance(page.get("issues", []), list):
                raise CollectorError("unexpected response from search/jql", permanent=False)
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if not token or page.get("isLast") is True or token in seen:
                return
            seen.add(token)
            self.ctx.check_budget()
        raise CollectorError(
            f"the search returned more than {MAX_PAGES} pages; not read to the end",
            permanent=True,
        )

    def changelog(self, key: str) -> Iterator[dict[str, Any]]:
        """Every history of an issue: ``GET /rest/api/3/issue/{key}/changelog``, paginated
        by ``startAt`` until ``isLast`` (or ``total``)."""
        start = 0
        for _ in range(MAX_PAGES):
            page = self.json("getChangeLogs", "issue", key, "changelog",
                             startAt=str(start), maxResults=str(PAGE_SIZE))  # fmt: skip
            values = page.get("values") or []
            yield from values
            start += len(values)
            total = page.get("total")
            if (
                not values
                or page.get("isLast") is True
                or (isinstance(total, int) and start >= total)
            ):
                return
        raise CollectorError(f"the changelog of {key} has more than {MAX_PAGES} pages")
