"""The single outbound HTTP chokepoint for collectors: timeouts, retries, rate limits, errors.

``HTTPSession`` is a :class:`requests.Session` that:

- applies a default timeout (connect 10 s, read 60 s) when the caller gives none;
- retries within a :class:`RetryBudget` (per session, overridable per call with
  ``retries=``): connection errors and timeouts (2 retries by default, 3 s of waiting in
  all), and 429, 5xx and GitHub-style rate-limited 403s (``X-RateLimit-Remaining: 0``, or
  ``Retry-After`` for secondary limits; 5 retries by default), with exponential backoff,
  honouring ``Retry-After`` (seconds or an HTTP date) and ``X-RateLimit-Reset`` (epoch
  seconds);
- never sleeps past the collection's remaining time budget (nor the call's ``max_wait``);
- returns the last response when a retried status persists (any error status is returned,
  never raised: :func:`check_response` decides), and turns network errors that outlast the
  retries into ``CollectorError(permanent=False)``;
- verifies TLS against ``ca_bundle`` when one is given (a PEM file), else the system store;
  a certificate that does not verify is a permanent ``CollectorError``, never retried;
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
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests

from collectors.destinations import credential_transport_problem
from collectors.errors import CollectorError, ErrorKind
from collectors.urls import resource_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "HTTPSession",
    "RetryBudget",
    "check_response",
    "check_response_reworded",
    "is_rate_limited",
    "iter_link_pages",
    "safe_url",
]

#: (connect, read) timeout in seconds applied when a request gives none.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
#: Statuses that are retried (plus rate-limited 403s).
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryBudget:
    """How hard ``ctx.http`` tries one request before it gives up.

    ``connect``: retries after a connection error or timeout (refused, unresolvable, reset);
    once they are spent the call raises ``CollectorError(permanent=False)``. ``status``:
    retries after 429, 500, 502, 503, 504 and rate-limited 403s; once they are spent the last
    response is returned (``check_response`` / ``ctx.http_json`` turn it into an error).
    Waits start at ``backoff`` seconds and double, up to ``backoff_max``, unless the server
    says how long (``Retry-After``, ``X-RateLimit-Reset``). ``max_wait`` caps the seconds
    slept across the retries of one call (``None``: only the collection's time budget does).

    The default costs an unreachable host 3 s of waiting (1 s, then 2 s) on top of its
    three connection attempts. ``RetryBudget.coerce(0)`` means "try once, never retry".
    """

    connect: int = 2
    status: int = 5
    backoff: float = 1.0
    backoff_max: float = 60.0
    max_wait: float | None = None

    @classmethod
    def coerce(cls, value: RetryBudget | int) -> RetryBudget:
        """A budget from a :class:`RetryBudget`, or an int ``n`` (``n`` retries of each kind)."""
        if isinstance(value, RetryBudget):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError(f"retries must be a RetryBudget or an int >= 0, not {value!r}")
        return cls(connect=value, status=value)

    def backoff_for(self, attempt: int) -> float:
        """The wait before retry number ``attempt + 1`` when the server names none."""
        return float(min(self.backoff_max, self.backoff * (2**attempt)))


def safe_url(url: str) -> str:
    """Return ``url`` without query string, fragment or user info (they may carry secrets).

    Absolute URLs get :func:`collectors.urls.resource_url`'s normal form; anything else just
    loses its query and fragment.
    """
    try:
        return resource_url(url)
    except ValueError:
        return url.split("#", 1)[0].split("?", 1)[0]


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


def _certificate_problem(exc: BaseException) -> str | None:
    """The verification failure behind ``exc`` (``None`` when it is not one).

    requests buries it under urllib3's errors, whose text also repeats the URL with its
    query string; only the OpenSSL reason is returned.
    """
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {current.verify_message}"
        pending.extend(current.args)
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
    return None


class HTTPSession(requests.Session):
    """A ``requests.Session`` with default timeouts, bounded retries and budget awareness.

    ``retries`` is the session's :class:`RetryBudget` (or an int, see
    :meth:`RetryBudget.coerce`); a call may pass its own as ``retries=``. ``sleep`` and
    ``clock`` (epoch seconds, used for ``X-RateLimit-Reset`` and HTTP dates) are injectable
    for tests; ``remaining`` returns the seconds left in the collection budget. ``ca_bundle``
    (a PEM file) is trusted instead of the system store unless a call passes ``verify=``.
    Retries apply to every method: collectors read, and the statuses retried mean the request
    was not processed (429) or failed server-side.
    """

    def __init__(
        self,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        retries: RetryBudget | int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        remaining: Callable[[], float] | None = None,
        ca_bundle: str | None = None,
        allow_http_loopback: bool = False,
        secret_values: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        super().__init__()
        self.allow_http_loopback = allow_http_loopback
        self.secret_values = secret_values or tuple
        self.default_timeout = timeout
        self.retries = RetryBudget() if retries is None else RetryBudget.coerce(retries)
        self.sleep = sleep
        self.clock = clock
        self.remaining = remaining or (lambda: math.inf)
        self.ca_bundle = ca_bundle
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
                    kind=ErrorKind.CONFIGURATION,
                )
        return super().send(request, **kwargs)

    def _refusal(self, seconds: float, budget: RetryBudget, waited: float) -> str | None:
        """Why ``seconds`` more of waiting is not allowed (``None`` when it is)."""
        if seconds > self.remaining():
            return "exceeds the time budget"
        if budget.max_wait is not None and waited + seconds > budget.max_wait:
            return f"exceeds the retry budget of {budget.max_wait:g} s"
        return None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.waits.append(seconds)
            self.sleep(seconds)

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send a request with the default timeout, retrying transient failures.

        ``retries=`` (a :class:`RetryBudget` or an int) replaces the session's budget for
        this call. An error status is returned, not raised.
        """
        override = kwargs.pop("retries", None)
        budget = self.retries if override is None else RetryBudget.coerce(override)
        kwargs.setdefault("timeout", self.default_timeout)
        if self.ca_bundle and "verify" not in kwargs:
            kwargs["verify"] = self.ca_bundle
        method_text = method.decode() if isinstance(method, bytes) else method
        url_text = url.decode() if isinstance(url, bytes) else url
        connect_tries = status_tries = 0
        waited = 0.0
        while True:
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = _certificate_problem(exc)
                if problem is not None:  # retrying cannot make a certificate trusted
                    raise CollectorError(
                        f"TLS error calling {method_text.upper()} {safe_url(url_text)}: {problem}"
                        " (pass the CA as the ca_bundle param if the server uses a private CA)",
                        permanent=True,
                        kind=ErrorKind.TLS,
                    ) from None
                wait = budget.backoff_for(connect_tries)
                if connect_tries < budget.connect and not self._refusal(wait, budget, waited):
                    self._sleep(wait)
                    waited += wait
                    connect_tries += 1
                    continue
                tries = connect_tries + status_tries + 1
                raise CollectorError(
                    f"network error calling {method_text.upper()} {safe_url(url_text)}: "
                    f"{type(exc).__name__} ({tries} {'try' if tries == 1 else 'tries'})",
                    permanent=False,
                    kind=ErrorKind.NETWORK,
                ) from None
            retryable = response.status_code in RETRY_STATUSES or is_rate_limited(response)
            if not retryable or status_tries >= budget.status:
                return response
            wait = _retry_after_seconds(response, self.clock())
            if wait is None:
                wait = budget.backoff_for(status_tries)
            refusal = self._refusal(wait, budget, waited)
            if refusal:
                # check_response reports it: "retry after N s exceeds the time budget"
                response.retry_skipped_after = wait  # type: ignore[attr-defined]
                response.retry_skipped_reason = refusal  # type: ignore[attr-defined]
                return response
            response.close()
            self._sleep(wait)
            waited += wait
            status_tries += 1


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
        reason = getattr(response, "retry_skipped_reason", "exceeds the time budget")
        extra = f" (retry after {skipped:.0f} s {reason})" if skipped else ""
        raise CollectorError(
            f"{base}: rate limited{extra}", permanent=False, kind=ErrorKind.RATE_LIMITED
        )
    if status in (401, 403):
        kind = ErrorKind.CREDENTIALS if status == 401 else ErrorKind.PERMISSION
        raise CollectorError(
            f"{base}: check the credentials and their scopes", permanent=True, kind=kind
        )
    if status >= 500:
        raise CollectorError(base, permanent=False, kind=ErrorKind.SERVER)
    raise CollectorError(base, permanent=True, kind=ErrorKind.REQUEST)


def check_response_reworded(
    response: requests.Response,
    reword: Callable[[CollectorError], str],
    *,
    action: str | None = None,
) -> requests.Response:
    """:func:`check_response` whose error says ``reword(error)`` instead (e.g. with the API's
    own message or the operation), with the same permanence and kind and the given
    ``action``; raised without chaining the original."""
    try:
        return check_response(response)
    except CollectorError as exc:
        raise CollectorError(
            reword(exc), permanent=exc.permanent, kind=exc.kind, action=action
        ) from None


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
