"""URLs as resource names: one normal form, with nothing secret left in it.

A collector whose resources are URLs (web endpoints, webhooks, API roots) names them with
:func:`resource_url`, so evidence and findings never carry credentials or tokens that came in
a query string, and the same endpoint is always the same resource
(``HTTPS://Api.Example.com:443/v1?token=x`` and ``https://api.example.com/v1`` are one).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["resource_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def resource_url(
    url: str,
    *,
    keep_query: bool | Iterable[str] = False,
    keep_credentials: bool = False,
) -> str:
    """Return ``url`` in normal form for use as a resource name.

    Scheme and host are lowercased, the scheme's default port is dropped, an empty path
    becomes ``/`` and the fragment is dropped. By default the user info
    (``user:password@``) and the query string are dropped too, since either may carry a
    secret. ``keep_query=True`` keeps the query, or pass the names of the parameters to keep
    (``keep_query=("page",)``); kept parameters are sorted so their order never matters.
    ``keep_credentials=True`` keeps the user name only, never a password.

    Raises ``ValueError`` for anything but an absolute URL (``scheme://host...``).
    """
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"not an absolute URL (scheme://host/...): {url!r}")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()  # urlsplit already lowercases; explicit for the reader
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    port = parts.port  # raises ValueError for a port out of range
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if keep_credentials and parts.username:
        host = f"{parts.username}@{host}"
    query = ""
    if keep_query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if keep_query is not True:
            allowed = {keep_query} if isinstance(keep_query, str) else set(keep_query)
            pairs = [(name, value) for name, value in pairs if name in allowed]
        query = urlencode(sorted(pairs))
    return urlunsplit((scheme, host, parts.path or "/", query, ""))
