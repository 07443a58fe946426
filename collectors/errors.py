"""The SDK's exceptions: the bottom layer, importing nothing from the ``collectors`` package.

Every other SDK module (the HTTP chokepoint, the context, the core types) raises these, so
they live below all of them; ``collectors`` and ``collectors.base`` re-export them.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CollectorError", "ParamError"]


class CollectorError(Exception):
    """An expected collection failure (access denied, not found, throttled, budget exhausted).

    ``permanent=True`` tells the runner that retrying will not help (bad credentials, missing
    permission); transient errors are retried with backoff. ``action`` names the API action
    that failed, e.g. ``"s3:ListAllMyBuckets"``, so the UI can say which permission is missing.
    """

    def __init__(self, message: str, *, permanent: bool = False, action: str | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.action = action

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"CollectorError({self.message!r}, permanent={self.permanent!r}, "
            f"action={self.action!r})"
        )


class ParamError(ValueError):
    """Invalid parameter values; ``errors`` maps each parameter name to a human message.

    All problems are reported at once so a form can show every field error together.
    """

    def __init__(self, errors: Mapping[str, str]):
        self.errors: dict[str, str] = dict(errors)
        detail = "; ".join(f"{name}: {msg}" for name, msg in sorted(self.errors.items()))
        super().__init__(f"invalid parameters: {detail}")
