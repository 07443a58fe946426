"""HMAC-SHA256 signatures of outgoing webhooks, and their verification (no Django).

pixaudit sends, on every generic webhook request::

    X-Pixaudit-Event:      control.failing
    X-Pixaudit-Delivery:   <uuid, unique per delivery; the same on its retries>
    X-Pixaudit-Timestamp:  <unix seconds when this attempt was signed>
    X-Pixaudit-Signature:  v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

The timestamp is inside the signed bytes (and repeated in the JSON body), so it cannot be
changed without the secret. A receiver recomputes the signature over the raw body, rejects a
timestamp outside its replay window (:data:`DEFAULT_TOLERANCE`, 5 minutes) and remembers the
delivery ids it accepted within that window, so a captured request replayed later, or
replayed at once, is refused. :func:`verify` does all three.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, MutableMapping

__all__ = ["DEFAULT_TOLERANCE", "SignatureError", "sign", "signature_headers", "verify"]

DEFAULT_TOLERANCE = 300
VERSION = "v1"


class SignatureError(ValueError):
    """The request is not a genuine, fresh pixaudit delivery (the message says why)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 over ``"<timestamp>." + body`` with ``secret``."""
    mac = hmac.new(
        secret.encode("utf-8"), f"{int(timestamp)}.".encode("ascii") + body, hashlib.sha256
    )
    return f"{VERSION}={mac.hexdigest()}"


def signature_headers(
    *, secret: str, body: bytes, event: str, delivery: str, timestamp: int
) -> dict[str, str]:
    """The headers of one signed webhook request."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "pixaudit-webhooks/1",
        "X-Pixaudit-Event": event,
        "X-Pixaudit-Delivery": delivery,
        "X-Pixaudit-Timestamp": str(int(timestamp)),
        "X-Pixaudit-Signature": sign(secret, timestamp, body),
    }


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    seen: MutableMapping[str, float] | None = None,
) -> str:
    """Check a received request; return its delivery id or raise :class:`SignatureError`.

    ``headers`` must be case-insensitive or use the names above. ``seen`` (delivery id ->
    time accepted) makes replays fail; entries older than the window are dropped.
    """
    now = time.time() if now is None else now
    stamp = headers.get("X-Pixaudit-Timestamp") or ""
    given = headers.get("X-Pixaudit-Signature") or ""
    delivery = headers.get("X-Pixaudit-Delivery") or ""
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("missing or malformed timestamp") from None
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("signature does not match")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance} s replay window")
    if seen is not None:
        for key, at in list(seen.items()):
            if now - at > 2 * tolerance:
                del seen[key]
        if not delivery or delivery in seen:
            raise SignatureError("delivery already received (replay)")
        seen[delivery] = now
    return delivery
