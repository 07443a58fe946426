"""Where secrets may go: destination params and the HTTPS-only rule for credentials.

A collector's stored secrets (API tokens, keys) are only as safe as the place they are sent
to. Params declared ``Param(..., destination=True)`` (base URL, endpoint, host, port, role
ARN) decide that place, so:

- changing a destination param requires re-entering every stored secret (enforced by the
  application's connection service with :func:`changed_destinations`): whoever may edit a
  connection cannot redirect a token they never saw;
- a URL in a destination param must be ``https://`` while the collector holds a secret
  (:func:`destination_errors`), and the SDK's HTTP session refuses to send credentials over
  anything but HTTPS (:func:`credential_transport_problem`).

The only exception is plain HTTP to a loopback address (``127.0.0.0/8``, ``::1``,
``localhost``), for the local fixture servers of tests; callers switch it on explicitly
(``allow_http_loopback=True``) and production never does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

__all__ = [
    "changed_destinations",
    "credential_transport_problem",
    "destination_errors",
    "destination_names",
    "is_loopback_host",
    "looks_like_url",
]


class Param(Protocol):
    """What this module reads of a :class:`collectors.base.Param` (a structural type, so this
    bottom-layer module imports nothing from ``base``, which imports the HTTP transport)."""

    name: str
    secret: bool
    destination: bool


_URL_RE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://")


def looks_like_url(value: Any) -> bool:
    """True when ``value`` is a string with a scheme (``scheme://...``)."""
    return isinstance(value, str) and bool(_URL_RE.match(value))


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and literal loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credential_transport_problem(url: str, *, allow_http_loopback: bool = False) -> str | None:
    """Why credentials may not be sent to ``url`` (``None`` when they may).

    Only ``https://`` URLs with a host qualify, plus ``http://`` to a loopback host when
    ``allow_http_loopback`` is on (tests' local servers). The message never contains the
    URL's query string or user info.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return "it is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return None
    if scheme == "http" and allow_http_loopback and is_loopback_host(host):
        return None
    shown = f"{scheme}://{host or ''}" if scheme else "a URL without a scheme"
    return f"secrets are sent only over HTTPS, not to {shown}: use an https:// URL"


def destination_names(params_decl: Sequence[Param]) -> tuple[str, ...]:
    """Names of the params declared ``destination=True``."""
    return tuple(p.name for p in params_decl if p.destination)


def _holds_secret(params_decl: Sequence[Param], values: Mapping[str, Any]) -> bool:
    for param in params_decl:
        value = values.get(param.name)
        if param.secret and value is not None and str(value).strip():
            return True
    return False


def _urls(value: Any) -> Iterable[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [item for item in items if looks_like_url(item)]


def destination_errors(
    params_decl: Sequence[Param],
    values: Mapping[str, Any],
    *,
    allow_http_loopback: bool = False,
) -> dict[str, str]:
    """``{param: message}`` for destination URLs that secrets may not be sent to.

    Applies only while ``values`` hold a secret (a collector without credentials may read
    an open ``http://`` report). Values that are not URLs (a host name, an ARN) pass here;
    the HTTP session still checks every request it sends with credentials.
    """
    if not _holds_secret(params_decl, values):
        return {}
    errors: dict[str, str] = {}
    for param in params_decl:
        if not param.destination or param.secret:
            continue
        for url in _urls(values.get(param.name)):
            problem = credential_transport_problem(url, allow_http_loopback=allow_http_loopback)
            if problem:
                errors[param.name] = problem[0].upper() + problem[1:] + "."
                break
    return errors


def changed_destinations(
    params_decl: Sequence[Param], old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[str]:
    """Names of destination params whose value differs between ``old`` and ``new``.

    A name missing from ``old`` counts as its default (what the collector used). Secret
    destination params (a DSN holding host and password) count when ``new`` has a value
    that differs from ``old``'s.
    """
    changed = []
    for param in params_decl:
        if not param.destination:
            continue
        before = old[param.name] if param.name in old else param.default_value()
        after = new[param.name] if param.name in new else param.default_value()
        if before != after:
            changed.append(param.name)
    return changed
