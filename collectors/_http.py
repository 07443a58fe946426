"""The single outbound HTTP chokepoint for collectors: timeouts, retries, rate limits, errors.

``HTTPSession`` is a :class:`requests.Session` that:

- applies a default timeout (connect 10 s, read 60 s) when the caller gives none;
- retries 429 and 5xx responses, and GitHub-style rate-limited 403s
  (``X-RateLimit-Remaining: 0``, or ``Retry-After`` for secondary limits), with exponential
  backoff, honouring ``Retry-After`` (seconds or an HTTP date) and ``X-RateLimit-Reset``
  (epoch seconds);
- never sleeps past the collection's remaining time budget;
- turns network errors into ``CollectorError(permanent=False)``.
- refuses to send credentials (an ``Authorization``, cookie or token header, or any known
  secret value anywhere in the request) over anything but HTTPS, redirects included
  (:mod:`collectors.destinations`; plain HTTP to loopback only with
  ``allow_http_loopback=True``, for tests' local servers).

:func:`check_response` turns an error response into a :class:`CollectorError` whose message
names the method, the URL without its query string (which may carry tokens) and the status.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from collectors.base import CollectorError
from collectors.destinations import credential_transport_problem

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "HTTPSession",
    "check_response",
    "is_rate_limited",
    "iter_link_pages",
    "safe_url",
]

#: (connect, read) timeout in seconds applied when a request gives none.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
#: Statuses that are retried (plus rate-limited 403s).
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


def safe_url(url: str) -> str:
    """Return ``url`` without query string, fragment or user info (they may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_rate_limited(response: requests.Response) -> bool:
    """True for 429, or a 403 whose ``X-RateLimit-Remaining`` is ``0`` or that carries
    ``Retry-After`` (GitHub's primary and secondary rate limits)."""
    if response.status_code == 429:
        return True
    return response.status_code == 403 and (
        response.headers.get("X-RateLimit-Remaining", "").strip() == "0"
        or bool(response.headers.get("Retry-After", "").strip())
    )


def _retry_after_seconds(response: requests.Response, now: float) -> float | None:
    """Seconds the server asks us to wait, from ``Retry-After`` or ``X-RateLimit-Reset``."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - now)
    if is_rate_limited(response):
        # GitHub sends X-RateLimit-Reset, Okta X-Rate-Limit-Reset (both epoch seconds).
        reset = response.headers.get("X-RateLimit-Reset") or response.headers.get(
            "X-Rate-Limit-Reset"
        )
        if reset:
            try:
                return max(0.0, float(reset) - now)
            except ValueError:
                return None
    return None


class HTTPSession(requests.Session):
    """A ``requests.Session`` with default timeouts, bounded retries and budget awareness.

    ``sleep`` and ``clock`` (epoch seconds, used for ``X-RateLimit-Reset`` and HTTP dates) are
    injectable for tests; ``remaining`` returns the seconds left in the collection budget.
    Retries apply to every method: collectors read, and the statuses retried mean the request
    was not processed (429) or failed server-side.
    """

    def __init__(
        self,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        remaining: Callable[[], float] | None = None,
        allow_http_loopback: bool = False,
        secret_values: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        super().__init__()
        self.allow_http_loopback = allow_http_loopback
        self.secret_values = secret_values or tuple
        self.default_timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.clock = clock
        self.remaining = remaining or (lambda: math.inf)
        #: Every sleep taken, in seconds (useful for tests and run diagnostics).
        self.waits: list[float] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send one prepared request (redirect hops too) unless it would leak credentials."""
        url = request.url or ""
        if _carries_credentials(request, self.secret_values()):
            problem = credential_transport_problem(
                url, allow_http_loopback=self.allow_http_loopback
            )
            if problem:
                raise CollectorError(
                    f"refusing to send credentials to {safe_url(url)}: {problem}",
                    permanent=True,
                )
        return super().send(request, **kwargs)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max, self.backoff_base * (2**attempt)))

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` if the budget allows it; return False when it does not."""
        if seconds > self.remaining():
            return False
        if seconds > 0:
            self.waits.append(seconds)
            self.sleep(seconds)
        return True

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send a request with the default timeout, retrying transient failures."""
        kwargs.setdefault("timeout", self.default_timeout)
        method_text = method.decode() if isinstance(method, bytes) else method
        url_text = url.decode() if isinstance(url, bytes) else url
        attempt = 0
        while True:
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt < self.max_retries and self._wait(self._backoff(attempt)):
                    attempt += 1
                    continue
                raise CollectorError(
                    f"network error calling {method_text.upper()} {safe_url(url_text)}: "
                    f"{type(exc).__name__}",
                    permanent=False,
                ) from None
            retryable = response.status_code in RETRY_STATUSES or is_rate_limited(response)
            if not retryable or attempt >= self.max_retries:
                return response
            wait = _retry_after_seconds(response, self.clock())
            if wait is None:
                wait = self._backoff(attempt)
            if not self._wait(wait):
                # check_response reports it: "retry after N s exceeds the time budget"
                response.retry_skipped_after = wait  # type: ignore[attr-defined]
                return response
            response.close()
            attempt += 1


_CREDENTIAL_HEADER_RE = re.compile(r"authorization|cookie|token|api[-_]?key|secret|password")


def _carries_credentials(request: requests.PreparedRequest, secrets: Iterable[str]) -> bool:
    """True when the request has a credential header or contains a known secret value."""
    headers = request.headers or {}
    if any(_CREDENTIAL_HEADER_RE.search(name.lower()) for name in headers):
        return True
    body = request.body
    text_body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    haystacks = [request.url or "", *map(str, headers.values())]
    if isinstance(text_body, str):
        haystacks.append(text_body)
    return any(secret and secret in hay for secret in secrets for hay in haystacks)


def check_response(response: requests.Response) -> requests.Response:
    """Return ``response`` if it is a success, else raise a :class:`CollectorError`.

    401 and 403 (unless rate limited) are permanent: the credentials or scopes are wrong.
    Rate limits and 5xx are transient. Other 4xx are permanent.
    """
    status = response.status_code
    if status < 400:
        return response
    request = response.request
    method = (request.method or "GET") if request is not None else "GET"
    url = safe_url(response.url or (request.url if request is not None else "") or "")
    reason = response.reason or ""
    base = f"HTTP {status} {reason}".rstrip() + f" from {method} {url}"
    if is_rate_limited(response):
        skipped = getattr(response, "retry_skipped_after", None)
        extra = f" (retry after {skipped:.0f} s exceeds the time budget)" if skipped else ""
        raise CollectorError(f"{base}: rate limited{extra}", permanent=False)
    if status in (401, 403):
        raise CollectorError(f"{base}: check the credentials and their scopes", permanent=True)
    if status >= 500:
        raise CollectorError(base, permanent=False)
    raise CollectorError(base, permanent=True)


def _next_link(response: requests.Response) -> str | None:
    links = response.links  # requests parses RFC 5988 Link headers
    nxt = links.get("next")
    if not nxt or not nxt.get("url"):
        return None
    return urljoin(response.url, nxt["url"])


def iter_link_pages(
    session: requests.Session, url: str, *, max_pages: int = 10_000, **kwargs: Any
) -> Iterator[requests.Response]:
    """Yield each checked response of a paginated GET, following ``Link: <...>; rel="next"``.

    ``kwargs`` go to the first request; ``params`` are dropped afterwards because the next
    link already carries the query. A link seen twice stops the walk (broken servers).
    More than ``max_pages`` pages is a :class:`CollectorError`: the list is never silently
    cut short.
    """
    seen: set[str] = set()
    next_url: str | None = url
    pages = 0
    while next_url is not None:
        if pages >= max_pages:
            raise CollectorError(
                f"GET {safe_url(url)} returned more than {max_pages} pages; the list was not "
                "read to the end",
                permanent=True,
            )
        seen.add(next_url)
        response = check_response(session.get(next_url, **kwargs))
        pages += 1
        kwargs.pop("params", None)
        yield response
        candidate = _next_link(response)
        next_url = candidate if candidate not in seen else None


def _http_date(ts: float) -> str:
    """Format epoch seconds as an HTTP date (helper for tests and fixtures)."""
    return email.utils.format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)
