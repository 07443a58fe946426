"""TLS handshakes for ``tls_endpoints``: one probe per protocol version, chain verification, HTTP.

Only the standard library ``ssl`` is used. Each probe opens its own TCP connection and pins
the client to exactly one protocol version, so "accepted" always means a handshake at that
version was observed. Legacy versions are offered with ``DEFAULT:@SECLEVEL=0`` (OpenSSL 3
refuses to offer TLS 1.0/1.1 at its default security level); when this client still cannot
offer a version, the probe says ``client_unsupported`` instead of guessing.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from collectors.tls._endpoint import Endpoint

__all__ = [
    "VERSIONS",
    "EndpointUnreachable",
    "HandshakeInfo",
    "Probe",
    "fetch_http_head",
    "probe_version",
    "verify_chain",
]

#: Protocol versions probed, oldest first: (label, ssl.TLSVersion name, OpenSSL support flag).
VERSIONS: tuple[tuple[str, str, bool], ...] = (
    ("TLSv1.0", "TLSv1", ssl.HAS_TLSv1),
    ("TLSv1.1", "TLSv1_1", ssl.HAS_TLSv1_1),
    ("TLSv1.2", "TLSv1_2", ssl.HAS_TLSv1_2),
    ("TLSv1.3", "TLSv1_3", ssl.HAS_TLSv1_3),
)
_PROBE_CIPHERS = "DEFAULT:@SECLEVEL=0"
_CLIENT_LIMITS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE")
_NOT_TLS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "RECORD_LAYER")
_MAX_HEAD = 65536


class EndpointUnreachable(Exception):
    """The TCP connection itself failed: ``reason`` says how (refused, timeout, DNS, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class HandshakeInfo:
    """What one successful handshake showed."""

    version: str
    cipher: str
    leaf_der: bytes | None


@dataclass
class Probe:
    """Outcome of offering exactly one protocol version.

    ``status`` is ``accepted``, ``rejected`` (the server refused or closed the handshake),
    ``not_tls`` (the peer does not speak TLS), ``timeout``, or ``client_unsupported``
    (this client could not offer the version, so nothing is known about the server).
    """

    version: str
    status: str
    detail: str = ""
    handshake: HandshakeInfo | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The JSON stored in the ``protocols`` column."""
        cipher = self.handshake.cipher if self.handshake else None
        return {"status": self.status, "cipher": cipher, "detail": self.detail or None}


def _error_text(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except ConnectionRefusedError:
        raise EndpointUnreachable("connection refused") from None
    except TimeoutError:
        raise EndpointUnreachable(f"connection timed out after {timeout:g} s") from None
    except socket.gaierror as exc:
        raise EndpointUnreachable(f"host not found ({_error_text(exc)})") from None
    except OSError as exc:
        raise EndpointUnreachable(f"host unreachable ({_error_text(exc)})") from None


@contextmanager
def _tls(endpoint: Endpoint, context: ssl.SSLContext, timeout: float) -> Iterator[ssl.SSLSocket]:
    raw = _connect(endpoint, timeout)
    try:
        with context.wrap_socket(raw, server_hostname=endpoint.server_name) as tls:
            yield tls
    finally:
        raw.close()


def _probe_context(version_name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    version = ssl.TLSVersion[version_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers(_PROBE_CIPHERS)
    return context


def _classify(label: str, exc: BaseException) -> Probe:
    if isinstance(exc, TimeoutError):
        return Probe(label, "timeout", "no answer to the handshake before the timeout")
    text = _error_text(exc)
    upper = str(getattr(exc, "reason", "") or exc).upper().replace(" ", "_")
    if any(marker in upper for marker in _CLIENT_LIMITS):
        return Probe(label, "client_unsupported", f"this client cannot offer {label}: {text}")
    if any(marker in upper for marker in _NOT_TLS):
        return Probe(label, "not_tls", f"the peer did not answer with TLS: {text}")
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
        return Probe(label, "rejected", "the server closed the connection during the handshake")
    return Probe(label, "rejected", text)


def probe_version(endpoint: Endpoint, label: str, version_name: str, timeout: float) -> Probe:
    """Offer only ``version_name`` (an ``ssl.TLSVersion`` name) and report what happened.

    Raises :class:`EndpointUnreachable` when the TCP connection cannot be opened.
    """
    try:
        context = _probe_context(version_name)
    except (ValueError, ssl.SSLError) as exc:
        return Probe(label, "client_unsupported", f"this client cannot offer {label}: {exc}")
    try:
        with _tls(endpoint, context, timeout) as tls:
            cipher = tls.cipher()
            info = HandshakeInfo(
                version=str(tls.version()),
                cipher=cipher[0] if cipher else "",
                leaf_der=tls.getpeercert(binary_form=True),
            )
    except EndpointUnreachable:
        raise
    except (OSError, ssl.SSLError) as exc:
        return _classify(label, exc)
    return Probe(label, "accepted", handshake=info)


def verify_chain(
    endpoint: Endpoint, version_name: str, ca_bundle: str | None, timeout: float
) -> tuple[bool | None, str | None]:
    """Handshake again with ``CERT_REQUIRED`` against ``ca_bundle`` or the system store.

    Returns ``(True, None)``, ``(False, reason)`` when the chain does not verify (expired,
    untrusted issuer, ...), or ``(None, reason)`` when the check itself could not run. The
    hostname is matched separately, so a wrong name never hides a chain problem.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        if ca_bundle:
            context.load_verify_locations(cafile=ca_bundle)
        else:
            context.load_default_certs()
    except (OSError, ssl.SSLError) as exc:
        return None, f"cannot load the CA bundle: {_error_text(exc)}"
    version = ssl.TLSVersion[version_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers(_PROBE_CIPHERS)
    try:
        with _tls(endpoint, context, timeout):
            return True, None
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message or _error_text(exc)
    except (OSError, ssl.SSLError) as exc:
        return None, f"verification handshake failed: {_error_text(exc)}"


def fetch_http_head(
    endpoint: Endpoint, version_name: str, timeout: float
) -> tuple[int | None, dict[str, str], str | None]:
    """Send ``GET /`` over TLS and return ``(status, headers, error)`` (headers lower-cased).

    The first value of a repeated header wins. ``error`` explains a missing or malformed
    answer; a server that speaks TLS but not HTTP gives ``(None, {}, reason)``.
    """
    context = _probe_context(version_name)
    request = (
        f"GET / HTTP/1.1\r\nHost: {endpoint.http_host}\r\nUser-Agent: pixaudit-tls-check\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    data = b""
    try:
        with _tls(endpoint, context, timeout) as tls:
            tls.sendall(request)
            while b"\r\n\r\n" not in data and len(data) < _MAX_HEAD:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
    except EndpointUnreachable as exc:
        return None, {}, exc.reason
    except (OSError, ssl.SSLError) as exc:
        if not data:
            return None, {}, f"no HTTP response: {_error_text(exc)}"
    return _parse_head(data)


def _parse_head(data: bytes) -> tuple[int | None, dict[str, str], str | None]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None, {}, "the server did not answer with HTTP"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers.setdefault(name.strip().lower(), value.strip())
    return int(parts[1]), headers, None
