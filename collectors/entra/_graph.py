"""A thin Microsoft Graph client over ``ctx.http``: client credentials, ``@odata.nextLink``.

The token comes from the Microsoft identity platform's v2.0 token endpoint with the OAuth 2.0
client credentials grant (plain OAuth 2.0: ``client_id``, ``client_secret``, ``scope`` =
``https://graph.microsoft.com/.default``); the client secret and the access token are secrets
of the collection, redacted from every log line and error. Throttled answers (429 and 503
with ``Retry-After``) are retried by the SDK session within the time budget. Lists follow
``@odata.nextLink`` to the end; a link seen twice stops the walk, more than ``max_pages``
pages is an error (a list is never silently cut short).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from collectors import CollectionContext, CollectorError, Param
from collectors._http import safe_url

__all__ = ["GRAPH_PARAMS", "GRAPH_SCOPE", "Graph", "graph_error"]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_PARAMS: tuple[Param, ...] = (
    Param("tenant_id", "string", required=True, help="Directory (tenant) id, a GUID."),
    Param("client_id", "string", required=True, help="Application (client) id of the app."),
    Param(
        "client_secret",
        "string",
        required=True,
        secret=True,
        help="A client secret of the app registration.",
    ),
    Param(
        "login_url",
        "string",
        default="https://login.microsoftonline.com",
        help="Microsoft identity platform root (national clouds have their own).",
        destination=True,
    ),
    Param(
        "graph_url",
        "string",
        default="https://graph.microsoft.com",
        help="Microsoft Graph root URL.",
        destination=True,
    ),
    Param(
        "ca_bundle",
        "string",
        help="PEM file of a private CA to trust (proxies, tests).",
        destination=True,
    ),
)
_MAX_PAGES = 10_000


def graph_error(response: requests.Response) -> str:
    """``HTTP <status>: <code>: <message>`` of a failed Graph or token response."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        detail = ": ".join(str(p) for p in (error.get("code"), error.get("message")) if p)
    elif isinstance(body, dict) and body.get("error"):
        description = str(body.get("error_description") or "").split("\r\n")[0].split("\n")[0]
        detail = ": ".join(p for p in (str(body["error"]), description) if p)
    else:
        detail = ""
    return f"HTTP {response.status_code}: {detail}" if detail else f"HTTP {response.status_code}"


class Graph:
    """Graph calls for one collection, recorded as ``graph:<operation>``."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.tenant = str(ctx.params["tenant_id"])
        self.root = str(ctx.params["graph_url"]).rstrip("/") + "/v1.0"
        self.headers: dict[str, str] = {"Accept": "application/json"}

    def authenticate(self) -> None:
        """Get an app-only token with the client credentials grant."""
        login = str(self.ctx.params["login_url"]).rstrip("/")
        url = f"{login}/{quote(self.tenant, safe='')}/oauth2/v2.0/token"
        self.ctx.record_call("entra:oauth2/v2.0/token")
        response = self.ctx.http.post(
            url,
            data={
                "client_id": str(self.ctx.params["client_id"]),
                "client_secret": str(self.ctx.params["client_secret"]),
                "scope": GRAPH_SCOPE,
                "grant_type": "client_credentials",
            },
            headers={"Accept": "application/json"},
        )
        token = None
        if response.status_code == 200:
            try:
                token = (response.json() or {}).get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not token:
            raise CollectorError(
                self.ctx.redact(
                    f"the token endpoint {safe_url(url)} refused the client credentials: "
                    f"{graph_error(response)}"
                ),
                permanent=response.status_code in (400, 401, 403),
                action="entra:oauth2/v2.0/token",
            )
        self.ctx.add_secret(str(token))
        self.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        """Absolute Graph v1.0 URL of ``path``."""
        return f"{self.root}/{path.lstrip('/')}"

    def items(self, operation: str, path: str, **query: str) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink``; errors raise."""
        self.ctx.record_call(f"graph:{operation}")
        next_url: str | None = self.url(path)
        params: dict[str, str] | None = dict(query) or None
        seen: set[str] = set()
        pages = 0
        while next_url is not None:
            self.ctx.check_budget()
            if pages >= _MAX_PAGES:
                raise CollectorError(
                    f"{operation} returned more than {_MAX_PAGES} pages; not read to the end",
                    permanent=True,
                )
            seen.add(next_url)
            response = self.ctx.http.get(next_url, headers=self.headers, params=params)
            if response.status_code >= 400:
                raise CollectorError(
                    f"{graph_error(response)} from GET {safe_url(next_url)}",
                    permanent=response.status_code in (400, 401, 403, 404),
                    action=f"graph:{operation}",
                )
            body = response.json()
            pages += 1
            params = None  # the next link carries the query
            yield from body.get("value") or []
            link = body.get("@odata.nextLink")
            next_url = str(link) if link and link not in seen else None
