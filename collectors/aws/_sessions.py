"""One ``AssumeRole`` and one caller identity per account per run, shared by its collectors.

An account job runs every enabled AWS collector of one account one after the other, each in
its own :class:`~collectors.CollectionContext`. Inside :func:`account_sessions` those
contexts share an :class:`AccountSessions`: the role's temporary credentials (assumed once,
assumed again only when fewer than :data:`REFRESH_MARGIN` remain; the sessions built on them
refresh through the same cache, so a collection longer than the credentials' lifetime
goes on) and the ``sts:GetCallerIdentity`` answer of each set of credentials. Leaving the
block clears the cache: nothing is kept after the account's job (memory stays flat in the
number of accounts). Without an active block every context assumes its role itself, as
before.

The cache travels in a :mod:`contextvars` variable; :func:`collectors.aws._common.pmap`
runs each item in a copy of the caller's context, so the collectors' threads see it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["REFRESH_MARGIN", "AccountSessions", "account_sessions", "active"]

#: Credentials closer than this to their expiry are assumed again. botocore refreshes
#: credentials once fewer than 15 minutes remain, so the cache never hands back ones it
#: would refresh straight away.
REFRESH_MARGIN = timedelta(minutes=15)

_ACTIVE: ContextVar[AccountSessions | None] = ContextVar("pixaudit_aws_account", default=None)


class AccountSessions:
    """The per-run cache of one account: assumed-role credentials and caller identities.

    ``clock`` returns the current time (UTC-aware); tests move it to force a refresh.
    ``assumed`` counts the credentials fetched (``sts:AssumeRole`` calls that succeeded).
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._credentials: dict[Hashable, dict[str, Any]] = {}
        self._identities: dict[Hashable, dict[str, Any]] = {}
        self.assumed = 0

    def _key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def fresh(self, credentials: dict[str, Any]) -> bool:
        """Whether ``credentials`` (an ``AssumeRole`` answer) last beyond the margin."""
        expiration = credentials.get("Expiration")
        if not isinstance(expiration, datetime):
            return True
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        return expiration - REFRESH_MARGIN > self._clock()

    def credentials(self, key: Hashable, fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The cached credentials for ``key``, or ``fetch()`` (once, for concurrent callers)
        when there are none or they are about to expire."""
        with self._key_lock(key):
            cached = self._credentials.get(key)
            if cached is not None and self.fresh(cached):
                return cached
            found = fetch()
            with self._lock:
                self._credentials[key] = found
                self.assumed += 1
            return found

    def identity(self, key: Hashable, fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The ``GetCallerIdentity`` answer for ``key``, fetched once per run."""
        with self._key_lock(("identity", key)):
            cached = self._identities.get(key)
            if cached is None:
                cached = fetch()
                with self._lock:
                    self._identities[key] = cached
            return cached

    def clear(self) -> None:
        """Drop everything (the account's job is over)."""
        with self._lock:
            self._credentials.clear()
            self._identities.clear()
            self._key_locks.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._credentials) + len(self._identities)


def active() -> AccountSessions | None:
    """The cache of the account job running in this context, if any."""
    return _ACTIVE.get()


@contextmanager
def account_sessions(clock: Callable[[], datetime] | None = None) -> Iterator[AccountSessions]:
    """Share one role session and one caller identity among the collectors run inside.

    Used by the account job (``pixaudit.awsorg``) around its collectors; the cache is
    cleared on the way out, whatever happened inside.
    """
    sessions = AccountSessions(clock)
    token = _ACTIVE.set(sessions)
    try:
        yield sessions
    finally:
        _ACTIVE.reset(token)
        sessions.clear()
