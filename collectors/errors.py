"""The SDK's exceptions: the bottom layer, importing nothing from the ``collectors`` package.

Every other SDK module (the HTTP chokepoint, the context, the core types) raises these, so
they live below all of them; ``collectors`` and ``collectors.base`` re-export them.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CollectorError", "ErrorKind", "ParamError"]


class ErrorKind:
    """What kind of failure a :class:`CollectorError` is, so the app can say what to do.

    The message stays the technical detail; pages turn the kind into advice a user can act
    on ("the AWS endpoint could not be reached: check network access or the region").
    """

    #: The endpoint could not be reached (refused, DNS, timeout, connection reset).
    NETWORK = "network"
    #: The endpoint's TLS certificate was not trusted or the handshake failed.
    TLS = "tls"
    #: The credentials were refused, missing or expired.
    CREDENTIALS = "credentials"
    #: The credentials are valid but lack a permission (``action`` names it when known).
    PERMISSION = "permission"
    #: The provider rate-limited the requests beyond the retry budget.
    RATE_LIMITED = "rate_limited"
    #: The provider answered with a server error (5xx).
    SERVER = "server"
    #: The provider rejected a request (another 4xx: not found, bad request).
    REQUEST = "request"
    #: The connection's settings cannot work (no region, a wrong account, a bad address).
    CONFIGURATION = "configuration"
    #: The run's time budget was spent.
    TIME_BUDGET = "time_budget"

    ALL = frozenset(
        {NETWORK, TLS, CREDENTIALS, PERMISSION, RATE_LIMITED, SERVER, REQUEST, CONFIGURATION,
         TIME_BUDGET}
    )  # fmt: skip


class CollectorError(Exception):
    """An expected collection failure (access denied, not found, throttled, budget exhausted).

    ``permanent=True`` tells the runner that retrying will not help (bad credentials, missing
    permission); transient errors are retried with backoff. ``action`` names the API action
    that failed, e.g. ``"s3:ListAllMyBuckets"``, so the UI can say which permission is missing.
    ``kind`` (an :class:`ErrorKind` value, or ``None`` when unknown) lets the app tell the
    user what to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        action: str | None = None,
        kind: str | None = None,
    ):
        super().__init__(message)
        if kind is not None and kind not in ErrorKind.ALL:
            raise ValueError(f"unknown error kind {kind!r}; use an ErrorKind value")
        self.message = message
        self.permanent = permanent
        self.action = action
        self.kind = kind

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"CollectorError({self.message!r}, permanent={self.permanent!r}, "
            f"action={self.action!r}, kind={self.kind!r})"
        )


class ParamError(ValueError):
    """Invalid parameter values; ``errors`` maps each parameter name to a human message.

    All problems are reported at once so a form can show every field error together.
    """

    def __init__(self, errors: Mapping[str, str]):
        self.errors: dict[str, str] = dict(errors)
        detail = "; ".join(f"{name}: {msg}" for name, msg in sorted(self.errors.items()))
        super().__init__(f"invalid parameters: {detail}")
