"""Parsing of ``tls_endpoints`` targets: ``[tls://|https://]host[:port][@sni]``."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["Endpoint", "parse_endpoint"]

_HOST_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Endpoint:
    """One target: ``scheme`` is ``https`` (HSTS checked) or ``tls`` (raw TLS, no HTTP)."""

    scheme: str
    host: str
    port: int
    sni: str | None

    @property
    def label(self) -> str:
        """The resource name of findings: ``host:port[@sni]``, ``tls://`` kept when given."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{host}:{self.port}" + (f"@{self.sni}" if self.sni else "")
        return f"tls://{text}" if self.scheme == "tls" else text

    @property
    def server_name(self) -> str | None:
        """The SNI name sent (``None`` for an IP address without an explicit name)."""
        if self.sni:
            return self.sni
        return None if _is_ip(self.host) else self.host

    @property
    def expected_name(self) -> str:
        """The name the certificate must match: the SNI name, else the host."""
        return self.sni or self.host

    @property
    def http_host(self) -> str:
        """The value of the ``Host`` header for the HSTS request."""
        name = self.sni or (f"[{self.host}]" if ":" in self.host else self.host)
        return name if self.port == 443 else f"{name}:{self.port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_endpoint(text: str) -> Endpoint:
    """Parse one target; raise ``ValueError`` with a readable message when it is malformed.

    Examples: ``example.com`` (port 443), ``example.com:8443``, ``10.0.0.5:443@api.example.com``
    (connect to the IP, send and match the name ``api.example.com``), ``[::1]:443``,
    ``tls://mail.example.com:465`` (TLS only: no HTTP request, HSTS not applicable).
    """
    raw = text.strip()
    scheme = "https"
    for prefix in ("tls://", "https://"):
        if raw.lower().startswith(prefix):
            scheme, raw = prefix[:-3], raw[len(prefix) :]
    address, _, sni = raw.partition("@")
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif address.count(":") == 1:
        host, port_text = address.split(":")
    else:
        host, port_text = address, ""
    if not host or not (_is_ip(host) or _HOST_RE.match(host)):
        raise ValueError(f"{text!r}: expected host:port[@sni]")
    if sni and not _HOST_RE.match(sni):
        raise ValueError(f"{text!r}: invalid SNI name {sni!r}")
    if port_text and not port_text.isdigit():
        raise ValueError(f"{text!r}: invalid port {port_text!r}")
    port = int(port_text) if port_text else 443
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: port out of range")
    return Endpoint(scheme=scheme, host=host.lower(), port=port, sni=sni.lower() or None)
