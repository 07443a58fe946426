"""A thin Okta management API client over ``ctx.http``: SSWS auth, Link pages, rate limits.

Okta announces its budget on every response (``X-Rate-Limit-Limit``, ``-Remaining``,
``-Reset`` in epoch seconds). When a response says nothing is left, the next call waits for
the reset instead of provoking a 429; a 429 itself is retried by the SDK session, which reads
the same reset header. Waits never outlast the collection's time budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from collectors import CollectionContext, CollectorError, Param
from collectors._http import check_response, iter_link_pages

__all__ = ["OKTA_PARAMS", "OktaAPI", "okta_error"]

OKTA_PARAMS: tuple[Param, ...] = (
    Param(
        "base_url",
        "string",
        required=True,
        help="Okta org URL, e.g. https://acme.okta.com.",
        destination=True,
    ),
    Param(
        "token",
        "string",
        required=True,
        secret=True,
        help="API token (SSWS) of a read-only administrator.",
    ),
)
_PAGE_LIMIT = "200"


def okta_error(response: requests.Response) -> str:
    """Okta's ``errorSummary`` of a failed response (or the HTTP status)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    summary = body.get("errorSummary") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {summary}" if summary else f"HTTP {response.status_code}"


class OktaAPI:
    """Okta calls for one collection, recorded as ``okta:<operation>``."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.base_url = str(ctx.params["base_url"]).rstrip("/")
        self.org = urlsplit(self.base_url).hostname or self.base_url
        self.headers = {
            "Authorization": f"SSWS {ctx.params['token']}",
            "Accept": "application/json",
            "User-Agent": "pixaudit-collector",
        }
        self._resume_at: float | None = None

    def url(self, *parts: str) -> str:
        """Absolute URL under ``/api/v1`` of ``parts`` (each URL-quoted)."""
        return "/".join([self.base_url, "api", "v1", *(quote(p, safe="") for p in parts)])

    def get(self, operation: str, *parts: str) -> requests.Response:
        """GET one resource without raising on error statuses (401 still raises)."""
        self._pace()
        self.ctx.record_call(f"okta:{operation}")
        response = self.ctx.http.get(self.url(*parts), headers=self.headers)
        self._note_limits(response)
        if response.status_code == 401:
            check_response(response)  # a bad token fails the whole run
        return response

    def json(self, operation: str, *parts: str) -> Any:
        """GET one resource; error statuses raise :class:`CollectorError`."""
        return check_response(self.get(operation, *parts)).json()

    def items(self, operation: str, *parts: str, **query: str) -> Iterator[dict[str, Any]]:
        """Every item of a Link-paginated list (``limit`` 200 per page)."""
        self.ctx.record_call(f"okta:{operation}")
        params = {"limit": _PAGE_LIMIT, **query}
        self._pace()
        pages = iter_link_pages(
            self.ctx.http, self.url(*parts), headers=self.headers, params=params
        )
        for response in pages:
            self._note_limits(response)
            yield from response.json()
            self._pace()

    def _note_limits(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-Rate-Limit-Remaining", "").strip()
        reset = response.headers.get("X-Rate-Limit-Reset", "").strip()
        if remaining == "0" and reset.isdigit():
            self._resume_at = float(reset)

    def _pace(self) -> None:
        """Wait for the announced reset when the last response left no budget."""
        if self._resume_at is None:
            return
        session = self.ctx.http
        clock = getattr(session, "clock", time.time)
        wait = max(0.0, self._resume_at - clock())
        self._resume_at = None
        if wait > self.ctx.remaining():
            raise CollectorError(
                f"Okta rate limit resets in {wait:.0f} s, beyond the time budget", permanent=False
            )
        if wait > 0:
            getattr(session, "waits", []).append(wait)
            getattr(session, "sleep", time.sleep)(wait)
