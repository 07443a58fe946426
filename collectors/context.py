"""The ``CollectionContext`` handed to ``Collector.collect``: every client a collector uses.

Clients (boto3 sessions and clients, the HTTP session) are created lazily on first use, never
at import time. The context also records provenance (identity, API actions called) and
partial failures (:meth:`CollectionContext.error`), and redacts secrets from log output.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from collectors._http import HTTPSession, RetryBudget, check_response, iter_link_pages, safe_url
from collectors.errors import CollectorError
from collectors.redaction import REDACTED

if TYPE_CHECKING:
    import boto3.session
    import requests
    from botocore.client import BaseClient

__all__ = ["CollectionContext", "RedactingLoggerAdapter", "aws_client_config"]

T = TypeVar("T")

_DEFAULT_LOGGER = logging.getLogger("collectors")
#: Secrets shorter than this are not redacted (would mangle ordinary words like "on").
_MIN_SECRET_LENGTH = 4


def aws_client_config() -> Any:
    """The botocore ``Config`` used for every AWS client (adaptive retries, timeouts)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,
    )


_LOADER_LOCK = threading.Lock()
_SHARED_LOADER: Any = None


def _botocore_session() -> Any:
    """A new botocore session sharing one process-wide data loader.

    Every context makes its own sessions (credentials never cross collections), but parsing
    the services' JSON models again for each one cost about 0.5 s per client; the shared
    loader parses each model once per process (bounded by the number of services, not of
    collections or accounts).
    """
    import botocore.session

    global _SHARED_LOADER
    session = botocore.session.get_session()
    with _LOADER_LOCK:
        if _SHARED_LOADER is None:
            _SHARED_LOADER = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _SHARED_LOADER)
    return session


class RedactingLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that formats each message and replaces every secret with ``********``.

    The message is interpolated before redaction (so secrets passed as ``%s`` arguments are
    caught) and exception tracebacks are rendered into the message and redacted as well.
    """

    def __init__(self, logger: logging.Logger, redact: Callable[[str], str]) -> None:
        super().__init__(logger, {})
        self._redact = redact

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        """Pass through (redaction happens in :meth:`log`, after interpolation)."""
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Interpolate, redact and emit ``msg`` at ``level``."""
        if not self.isEnabledFor(level):
            return
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            if exc_info is True:
                import sys

                exc_info = sys.exc_info()
            elif isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            if exc_info[0] is not None:
                text = text + "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, self._redact(text), **kwargs)

    def exception(self, msg: Any, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        """Log at ERROR with the current exception, redacted."""
        self.log(logging.ERROR, msg, *args, exc_info=exc_info, **kwargs)


class CollectionContext:
    """Everything a collector may use while collecting.

    ``params`` are the validated params; ``secrets`` are values to redact from logs (the
    runner passes the secret param values). ``clock`` returns the current time (UTC-aware;
    naive values are taken as UTC). ``progress(done, total, message)`` reports progress.
    ``time_budget`` (seconds) bounds the run: see :meth:`remaining` and :meth:`check_budget`.
    ``aws_session_factory(region)`` replaces the built-in AWS credential logic when given;
    ``http_session`` replaces the default :class:`~collectors._http.HTTPSession`, and
    ``http_retries`` (a :class:`~collectors._http.RetryBudget` or an int) sets the retry
    budget of :attr:`http` (see :attr:`http_retries`).
    ``allow_http_loopback`` lets that session send credentials over plain HTTP to a
    loopback address (tests' local servers only; never in production).
    ``thresholds`` are the validated thresholds the run's assertions will be evaluated with
    (``{assertion_id: {threshold: value}}``, defaults filled by the runner and
    :func:`collectors.testing.run_collector`; empty when none were given). Assertions get
    theirs as ``params``; ``collect`` reads one only when what a row records depends on it
    (``github_pull_requests``: ``ticket_projects`` decides which lower-case words in titles,
    branch names, bodies and commit messages are ticket keys), and says so in its
    documentation.
    """

    def __init__(
        self,
        params: Mapping[str, Any],
        *,
        secrets: Iterable[str] = (),
        clock: Callable[[], datetime] | None = None,
        logger: logging.Logger | None = None,
        progress: Callable[[int, int | None, str], None] | None = None,
        time_budget: float | None = None,
        aws_session_factory: Callable[[str | None], boto3.session.Session] | None = None,
        http_session: requests.Session | None = None,
        http_retries: RetryBudget | int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        allow_http_loopback: bool = False,
        thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.params: dict[str, Any] = dict(params)
        self.thresholds: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in (thresholds or {}).items()
        }
        self.allow_http_loopback = allow_http_loopback
        self._secrets = sorted(
            {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LENGTH},
            key=len,
            reverse=True,  # longest first, so a secret containing another is fully replaced
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self.logger = RedactingLoggerAdapter(logger or _DEFAULT_LOGGER, self.redact)
        self._progress = progress
        self.time_budget = time_budget
        self._monotonic = monotonic
        self._started = monotonic()
        self._sleep = sleep
        self._aws_session_factory = aws_session_factory
        self._http: requests.Session | None = http_session
        if http_retries is not None:
            self._http_retries = RetryBudget.coerce(http_retries)
        elif isinstance(http_session, HTTPSession):
            self._http_retries = http_session.retries  # an injected session keeps its own
        else:
            self._http_retries = RetryBudget()
        if isinstance(http_session, HTTPSession):
            http_session.retries = self._http_retries
        self._lock = threading.Lock()
        self._aws_sessions: dict[str | None, Any] = {}
        self._aws_clients: dict[tuple[str, str | None], Any] = {}
        self._role_credentials: dict[tuple[str, str | None], dict[str, Any]] = {}
        #: The account or identity the collector ran as (set by the collector).
        self.identity: str | None = None
        self._api_calls: set[str] = set()
        self._api_call_counts: dict[str, int] = {}
        #: Partial failures: dicts with ``message``, ``action``, ``resource``, ``assertions``.
        self.errors: list[dict[str, Any]] = []

    # -- time, logging, progress -------------------------------------------------------------

    def now(self) -> datetime:
        """The current time as a UTC-aware datetime (from the injected clock)."""
        value = self._clock()
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def redact(self, text: str) -> str:
        """Return ``text`` with every known secret value replaced by ``********``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def add_secret(self, value: str) -> None:
        """Register another value to redact (e.g. a token obtained during collection)."""
        if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
            self._secrets = sorted({*self._secrets, value}, key=len, reverse=True)

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Report progress to the runner (no-op when nobody listens)."""
        if self._progress is not None:
            self._progress(done, total, self.redact(message))

    def elapsed(self) -> float:
        """Seconds since the context was created."""
        return self._monotonic() - self._started

    def remaining(self) -> float:
        """Seconds left in the time budget (``inf`` without a budget, never negative)."""
        if self.time_budget is None:
            return math.inf
        return max(0.0, self.time_budget - self.elapsed())

    def check_budget(self) -> None:
        """Raise a transient :class:`CollectorError` once the time budget is exhausted."""
        if self.time_budget is not None and self.remaining() <= 0:
            raise CollectorError(
                f"time budget of {self.time_budget:g} s exhausted", permanent=False
            )

    # -- provenance and partial failures ----------------------------------------------------

    def record_call(self, action: str) -> None:
        """Record that the API action ``action`` (e.g. ``"s3:ListBuckets"``) was called."""
        with self._lock:
            self._api_calls.add(action)
            self._api_call_counts[action] = self._api_call_counts.get(action, 0) + 1

    @property
    def api_calls(self) -> list[str]:
        """The API actions called so far, sorted."""
        with self._lock:
            return sorted(self._api_calls)

    @property
    def api_call_counts(self) -> dict[str, int]:
        """How many times each API action was called (retries of one call count once)."""
        with self._lock:
            return dict(sorted(self._api_call_counts.items()))

    def error(
        self,
        message: str,
        *,
        action: str | None = None,
        resource: str | None = None,
        assertions: Iterable[str] = (),
    ) -> None:
        """Record a partial failure and carry on collecting.

        It becomes an ERROR finding for each named assertion id (all of the collector's
        assertions when none are named), for ``resource`` or for ``"*"`` when it is ``None``.
        """
        entry = {
            "message": self.redact(message),
            "action": action,
            "resource": resource,
            "assertions": tuple(assertions),
        }
        with self._lock:
            self.errors.append(entry)
        self.logger.warning(
            "collection error%s%s: %s",
            f" on {resource}" if resource else "",
            f" ({action})" if action else "",
            message,
        )

    def attempt(
        self,
        func: Callable[[], T],
        *,
        resource: str | None = None,
        action: str | None = None,
        assertions: Iterable[str] = (),
        message: str = "",
        default: T | None = None,
    ) -> T | None:
        """Return ``func()``; on a :class:`CollectorError`, record it and return ``default``.

        The per-resource "try this, else an ERROR for this resource" of a collection: the
        error is recorded with :meth:`error` for ``resource`` (``"*"`` when ``None``) and the
        named ``assertions`` (all of them when none are named), as ``"<message>: <error>"``
        (or the error's own message), naming ``action`` or else the error's. Other
        exceptions are bugs and propagate.
        """
        try:
            return func()
        except CollectorError as exc:
            self.error(
                f"{message}: {exc.message}" if message else exc.message,
                action=action or exc.action,
                resource=resource,
                assertions=assertions,
            )
            return default

    # -- AWS --------------------------------------------------------------------------------

    def aws_session(self, region: str | None = None) -> boto3.session.Session:
        """Return a boto3 session for ``region`` (cached), built from the params.

        Credentials come from, in order: ``aws_session_factory`` if injected; ``role_arn`` (+
        ``external_id``) assumed through STS with the base credentials; static
        ``access_key_id``/``secret_access_key``/``session_token``; ``profile``; else the
        standard boto3 chain (environment, config files, instance role).
        ``AWS_ENDPOINT_URL`` is honoured by boto3 itself.
        """
        region = region or self.params.get("region") or None
        with self._lock:
            cached = self._aws_sessions.get(region)
        if cached is not None:
            return cached
        if self._aws_session_factory is not None:
            session = self._aws_session_factory(region)
        else:
            session = self._build_aws_session(region)
        with self._lock:
            self._aws_sessions.setdefault(region, session)
            return self._aws_sessions[region]

    def _base_aws_session(self, region: str | None) -> boto3.session.Session:
        import boto3.session

        kwargs: dict[str, Any] = {"region_name": region}
        if self.params.get("access_key_id"):
            kwargs["aws_access_key_id"] = self.params["access_key_id"]
            kwargs["aws_secret_access_key"] = self.params.get("secret_access_key")
            if self.params.get("session_token"):
                kwargs["aws_session_token"] = self.params["session_token"]
        elif self.params.get("profile"):
            kwargs["profile_name"] = self.params["profile"]
        return boto3.session.Session(botocore_session=_botocore_session(), **kwargs)

    def _build_aws_session(self, region: str | None) -> boto3.session.Session:
        import boto3.session
        from botocore.credentials import RefreshableCredentials

        role_arn = self.params.get("role_arn")
        if not role_arn:
            return self._base_aws_session(region)
        external_id = self.params.get("external_id") or None

        def metadata() -> dict[str, Any]:
            creds = self._assume_role(role_arn, external_id, region)
            expiration = creds.get("Expiration")
            if not isinstance(expiration, datetime):
                expiration = datetime.now(UTC) + timedelta(hours=1)
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiration.isoformat(),
            }

        # Refreshable: botocore assumes the role again (through the cache) before the
        # credentials expire, so a collection longer than their lifetime goes on.
        core = _botocore_session()
        core._credentials = RefreshableCredentials.create_from_metadata(
            metadata(), refresh_using=metadata, method="assume-role"
        )
        return boto3.session.Session(botocore_session=core, region_name=region)

    def aws_credentials_key(self) -> tuple[Any, ...]:
        """What identifies this context's AWS credentials (for the per-account cache).

        The role and external id, and a digest of the base credentials (never the secret
        itself); an injected ``aws_session_factory`` is its own key.
        """
        import hashlib

        base = "|".join(
            str(self.params.get(name) or "")
            for name in ("access_key_id", "secret_access_key", "session_token", "profile")
        )
        return (
            self.params.get("role_arn") or None,
            self.params.get("external_id") or None,
            hashlib.sha256(base.encode()).hexdigest(),
            id(self._aws_session_factory) if self._aws_session_factory is not None else None,
        )

    def _assume_role(
        self, role_arn: str, external_id: str | None, region: str | None
    ) -> dict[str, Any]:
        """Temporary credentials of ``role_arn``: from the account job's cache when one is
        active (:mod:`collectors.aws._sessions`, one ``AssumeRole`` per account and run),
        else from this context's own; assumed again when about to expire."""
        from collectors.aws._sessions import AccountSessions, active

        shared = active()
        if shared is not None:
            creds = shared.credentials(
                self.aws_credentials_key(), lambda: self._fetch_role(role_arn, external_id, region)
            )
        else:
            cache_key = (role_arn, external_id)
            with self._lock:
                creds = self._role_credentials.get(cache_key)
            if creds is None or not AccountSessions().fresh(creds):
                creds = self._fetch_role(role_arn, external_id, region)
                with self._lock:
                    self._role_credentials[cache_key] = creds
        self.add_secret(creds["SecretAccessKey"])
        self.add_secret(creds["SessionToken"])
        return creds

    def _fetch_role(
        self, role_arn: str, external_id: str | None, region: str | None
    ) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        sts = self._base_aws_session(region).client("sts", config=aws_client_config())
        kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "pixaudit-collector"}
        if external_id:
            kwargs["ExternalId"] = external_id
        self.record_call("sts:AssumeRole")
        try:
            return sts.assume_role(**kwargs)["Credentials"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise CollectorError(
                f"cannot assume role {role_arn}: {code}", permanent=True, action="sts:AssumeRole"
            ) from None
        except BotoCoreError as exc:
            raise CollectorError(
                f"cannot assume role {role_arn}: {type(exc).__name__}",
                permanent=False,
                action="sts:AssumeRole",
            ) from None

    def aws_client(self, service: str, region: str | None = None) -> BaseClient:
        """Return a cached boto3 client with adaptive retries and timeouts.

        Every API call made through it is recorded in :attr:`api_calls` as
        ``<signing name>:<Operation>`` (e.g. ``s3:ListBuckets``).
        """
        region = region or self.params.get("region") or None
        key = (service, region)
        with self._lock:
            cached = self._aws_clients.get(key)
        if cached is not None:
            return cached
        client = self.aws_session(region).client(
            service, region_name=region, config=aws_client_config()
        )
        prefix = client.meta.service_model.signing_name or service

        def _record(model: Any, **_: Any) -> None:
            self.record_call(f"{prefix}:{model.name}")

        client.meta.events.register("before-call", _record)
        with self._lock:
            self._aws_clients.setdefault(key, client)
            return self._aws_clients[key]

    # -- HTTP -------------------------------------------------------------------------------

    @property
    def http(self) -> requests.Session:
        """The HTTP session (created on first use; retries never outlast the budget).

        A ``ca_bundle`` param (a PEM file) is trusted instead of the system store; the
        session's retry budget is :attr:`http_retries`.
        """
        with self._lock:
            if self._http is None:
                ca_bundle = self.params.get("ca_bundle") or None
                if ca_bundle is not None and not os.path.isfile(ca_bundle):
                    raise CollectorError(
                        f"ca_bundle {ca_bundle} is not a readable PEM file", permanent=True
                    )
                self._http = HTTPSession(
                    sleep=self._sleep,
                    remaining=self.remaining,
                    retries=self._http_retries,
                    ca_bundle=ca_bundle,
                    allow_http_loopback=self.allow_http_loopback,
                    secret_values=lambda: tuple(self._secrets),
                )
            return self._http

    @property
    def http_retries(self) -> RetryBudget:
        """The retry budget of every :attr:`http` call that passes no ``retries=`` of its own.

        Set it (a :class:`~collectors._http.RetryBudget` or an int) at the start of
        ``collect`` to give a collector its own budget, e.g. ``RetryBudget(connect=0)`` for a
        probe where an unreachable host is the answer, not a glitch.
        """
        return self._http_retries

    @http_retries.setter
    def http_retries(self, value: RetryBudget | int) -> None:
        self._http_retries = RetryBudget.coerce(value)
        with self._lock:
            if isinstance(self._http, HTTPSession):
                self._http.retries = self._http_retries

    def http_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send a request, raise :class:`CollectorError` on an error status, return the JSON.

        ``kwargs`` go to :meth:`requests.Session.request` (``headers``, ``params``, ``json``,
        ``timeout``, ``verify``), plus ``retries=`` for this call's retry budget.
        """
        response = check_response(self.http.request(method, url, **kwargs))
        try:
            return response.json()
        except ValueError:
            raise CollectorError(
                f"invalid JSON from {method.upper()} {safe_url(response.url)}",
                permanent=False,
            ) from None

    def http_pages(self, url: str, **kwargs: Any) -> Iterator[Any]:
        """Yield the JSON body of each page of a ``Link``-paginated GET (see iter_link_pages)."""
        for response in iter_link_pages(self.http, url, **kwargs):
            yield response.json()
