"""Who acts, beyond the signed-in user: the API token of the current request, if any.

``pixaudit.api`` sets it for the duration of a token-authenticated request, so every event
recorded meanwhile (by any service, with or without the request at hand) names the token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["acting_token", "acting_token_label", "acting_token_set"]

_token: ContextVar[str | None] = ContextVar("pixaudit_acting_token", default=None)


def acting_token_label() -> str | None:
    """The label of the API token the current request authenticated with, or ``None``."""
    return _token.get()


def acting_token_set(label: str | None) -> None:
    """Name the token for the rest of the enclosing :func:`acting_token` block."""
    _token.set(label)


@contextmanager
def acting_token(label: str | None) -> Iterator[None]:
    """Attribute every audit event recorded inside the block to the token ``label``."""
    reset = _token.set(label)
    try:
        yield
    finally:
        _token.reset(reset)
