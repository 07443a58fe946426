"""A thin Linear GraphQL client over ``ctx.http``: auth header, errors, rate limits, cursors.

Linear serves one GraphQL endpoint (``https://api.linear.app/graphql``). A personal API key
is sent as the ``Authorization`` header as it is; an OAuth access token as ``Bearer
<token>`` (``token_type``). The SDK only sends it over HTTPS (plain HTTP only to loopback
fixture servers in tests). Every query is recorded as ``linear:<operationName>``.

Errors: a GraphQL answer can carry ``errors`` with HTTP 200 (or 400). Each error's
``extensions`` has Linear's ``code`` (e.g. ``RATELIMITED``, ``AUTHENTICATION_ERROR``) and/or
``type`` (``"ratelimited"``, ``"authentication error"``, ``"forbidden"``, ...) and a
``userPresentableMessage``; they become :class:`CollectorError` messages that name the
operation. An authentication error (or HTTP 401) fails the run as a credential problem;
another GraphQL error is permanent for that query only (the caller decides its scope).

Rate limits: Linear answers an exhausted budget with HTTP 400 and an error whose
``extensions.code`` is ``RATELIMITED`` (a 429 is retried by ``ctx.http`` itself), with the
``X-RateLimit-Requests-Reset`` / ``X-RateLimit-Complexity-Reset`` /
``X-RateLimit-Endpoint-Requests-Reset`` headers in UTC epoch milliseconds. The query is
retried within the context's retry budget (``ctx.http_retries``: at most ``status``
retries, each wait capped at ``backoff_max`` seconds, all of them at ``max_wait`` and at the
collection's remaining time); the waits are recorded in ``ctx.http.waits``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import requests

from collectors import CollectionContext, CollectorError, Param
from collectors._http import HTTPSession, check_response_reworded
from collectors.errors import ErrorKind

__all__ = ["LINEAR_PARAMS", "LinearAPI", "graphql_errors"]

LINEAR_PARAMS: tuple[Param, ...] = (
    Param(
        "api_url",
        "string",
        default="https://api.linear.app/graphql",
        help="Linear's GraphQL endpoint (change it only for a proxy).",
        destination=True,
    ),
    Param(
        "api_key",
        "string",
        required=True,
        secret=True,
        help="A personal API key with read access (Linear > Settings > Account > Security & "
        "access), or an OAuth access token with the read scope.",
    ),
    Param(
        "token_type",
        "string",
        default="api_key",
        choices=("api_key", "oauth"),
        help="api_key: the key is sent as the Authorization header as it is; oauth: sent as "
        "'Bearer <token>'.",
    ),
)
#: A connection longer than this many pages is refused rather than cut short.
MAX_PAGES = 10_000
_RESET_HEADERS = (
    ("X-RateLimit-Requests-Remaining", "X-RateLimit-Requests-Reset"),
    ("X-RateLimit-Complexity-Remaining", "X-RateLimit-Complexity-Reset"),
    ("X-RateLimit-Endpoint-Requests-Remaining", "X-RateLimit-Endpoint-Requests-Reset"),
)


def _extension(error: Any, name: str) -> str:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    return str((extensions or {}).get(name) or "") if isinstance(extensions, dict) else ""


def _is(error: Any, code: str, kind: str) -> bool:
    """True when the error's ``extensions.code`` is ``code`` or its ``type`` is ``kind``."""
    return _extension(error, "code").upper() == code or _extension(error, "type").lower() == kind


def graphql_errors(errors: list[Any]) -> str:
    """The errors of a GraphQL answer as one line: each error's user-presentable message (or
    ``message``), its code or type, and the path of the field that failed."""
    parts = []
    for error in errors:
        if not isinstance(error, dict):
            parts.append(str(error))
            continue
        text = _extension(error, "userPresentableMessage") or str(error.get("message") or "")
        code = _extension(error, "code") or _extension(error, "type")
        path = error.get("path")
        where = f" at {'.'.join(map(str, path))}" if isinstance(path, list) and path else ""
        parts.append(f"{text or 'error'}{f' ({code})' if code else ''}{where}")
    return "; ".join(parts) or "unknown error"


class LinearAPI:
    """Linear queries for one collection: :meth:`query` (data or an error) and :meth:`pages`."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.url = str(ctx.params.get("api_url") or LINEAR_PARAMS[0].default).strip()
        key = str(ctx.params["api_key"]).strip()
        bearer = ctx.params.get("token_type") == "oauth"
        self.headers = {
            "Authorization": f"Bearer {key}" if bearer else key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "pixaudit-collector",
        }

    def _pause(self, seconds: float) -> None:
        """Sleep through the SDK session (so tests inject the sleep and see the waits)."""
        session = self.ctx.http
        if isinstance(session, HTTPSession):
            session.waits.append(seconds)
            session.sleep(seconds)
        else:  # an injected plain requests.Session
            time.sleep(seconds)

    def _rate_limit_wait(self, response: requests.Response, attempt: int) -> float:
        """Seconds to wait before retrying a rate-limited query: ``Retry-After``, else the
        latest reset (epoch ms) of the budgets that are spent (of all that are sent when
        none says it is spent), else the budget's exponential backoff; at most
        ``backoff_max``."""
        budget = self.ctx.http_retries
        headers = response.headers
        wait: float | None = None
        try:
            wait = float(headers["Retry-After"])
        except (KeyError, ValueError):
            now_ms = self.ctx.now().timestamp() * 1000
            spent, sent = [], []
            for remaining, reset in _RESET_HEADERS:
                try:
                    at = float(headers[reset])
                except (KeyError, ValueError):
                    continue
                sent.append(at)
                if headers.get(remaining, "").strip() in {"0", "-1"}:
                    spent.append(at)
            chosen = spent or sent
            if chosen:
                wait = max(0.0, (max(chosen) - now_ms) / 1000)
        if wait is None:
            wait = budget.backoff_for(attempt)
        return min(max(wait, 0.0), budget.backoff_max)

    def query(self, operation: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        """POST one GraphQL operation and return its ``data``.

        Raises :class:`CollectorError`: permanent with kind ``credentials`` for an
        authentication error or HTTP 401; transient with kind ``rate_limited`` when the rate
        limit outlasts the retry budget; permanent (kind ``permission`` for ``FORBIDDEN``,
        else ``request``) for any other GraphQL error, with Linear's messages.
        """
        self.ctx.record_call(f"linear:{operation}")
        payload = {"query": query, "variables": variables or {}, "operationName": operation}
        budget = self.ctx.http_retries
        waited = 0.0
        attempt = 0
        while True:
            response = self.ctx.http.post(self.url, json=payload, headers=self.headers)
            try:
                body = response.json()
            except ValueError:
                body = None
            errors = body.get("errors") if isinstance(body, dict) else None
            errors = errors if isinstance(errors, list) else []
            limited = any(_is(e, "RATELIMITED", "ratelimited") for e in errors)
            if response.status_code == 429:  # ctx.http has retried it already
                attempt = budget.status
                limited = True
            if not limited:
                break
            wait = self._rate_limit_wait(response, attempt)
            too_long = wait > self.ctx.remaining() or (
                budget.max_wait is not None and waited + wait > budget.max_wait
            )
            if attempt >= budget.status or too_long:
                why = "exceeds the time budget" if too_long else f"after {attempt} retries"
                raise CollectorError(
                    f"Linear rate limit on {operation}: still limited {why} "
                    f"(next wait {wait:.0f} s): {graphql_errors(errors)}",
                    permanent=False,
                    kind=ErrorKind.RATE_LIMITED,
                    action=f"linear:{operation}",
                )
            self._pause(wait)
            waited += wait
            attempt += 1
        return self._data(operation, response, body, errors)

    def _data(
        self, operation: str, response: requests.Response, body: Any, errors: list[Any]
    ) -> Any:
        action = f"linear:{operation}"
        auth = [e for e in errors if _is(e, "AUTHENTICATION_ERROR", "authentication error")]
        if auth or response.status_code == 401:
            detail = graphql_errors(auth) if auth else f"HTTP {response.status_code}"
            raise CollectorError(
                f"Linear refused the api_key ({detail}): check that it is a valid, unrevoked "
                "key with read access (an OAuth access token needs token_type oauth)",
                permanent=True,
                kind=ErrorKind.CREDENTIALS,
                action=action,
            )
        if errors and response.status_code >= 500:  # a server fault: try again later
            raise CollectorError(
                f"Linear {operation}: HTTP {response.status_code}: {graphql_errors(errors)}",
                permanent=False,
                kind=ErrorKind.SERVER,
                action=action,
            )
        if errors:
            forbidden = any(_is(e, "FORBIDDEN", "forbidden") for e in errors)
            raise CollectorError(
                f"Linear {operation}: {graphql_errors(errors)}",
                permanent=True,
                kind=ErrorKind.PERMISSION if forbidden else ErrorKind.REQUEST,
                action=action,
            )
        check_response_reworded(
            response, lambda exc: f"Linear {operation}: {exc.message}", action=action
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise CollectorError(
                f"Linear {operation}: the answer has no data", permanent=False, action=action
            )
        return data

    def identify(self) -> None:
        """Set ``ctx.identity`` to the key's user (``linear:<email or id>``)."""
        data = self.query("Viewer", "query Viewer { viewer { id name email } }")
        viewer = data.get("viewer") or {}
        self.ctx.identity = f"linear:{viewer.get('email') or viewer.get('id')}"

    def pages(
        self,
        operation: str,
        query: str,
        variables: dict[str, Any],
        path: tuple[str, ...],
        after: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The ``nodes`` of each page of the connection at ``path`` in the answer, following
        ``pageInfo.endCursor`` (sent as ``after``, starting at ``after``) while
        ``hasNextPage``. A next page without a new cursor, or more than ``MAX_PAGES`` pages,
        is an error rather than a silent cut."""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            data = self.query(operation, query, {**variables, "after": after})
            connection: Any = data
            for name in path:
                connection = connection.get(name) if isinstance(connection, dict) else None
            nodes = connection.get("nodes") if isinstance(connection, dict) else None
            if not isinstance(nodes, list):
                raise CollectorError(
                    f"Linear {operation}: the answer has no {'.'.join(path)}.nodes",
                    permanent=False,
                    action=f"linear:{operation}",
                )
            yield nodes
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor")
            if not cursor or cursor in seen:
                raise CollectorError(
                    f"Linear {operation}: a next page of {'.'.join(path)} without a new "
                    "cursor; not read to the end",
                    permanent=True,
                    action=f"linear:{operation}",
                )
            seen.add(cursor)
            after = cursor
            self.ctx.check_budget()
        raise CollectorError(
            f"Linear {operation}: more than {MAX_PAGES} pages; not read to the end",
            permanent=True,
        )
