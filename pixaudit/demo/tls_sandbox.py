"""A throwaway HTTPS endpoint on 127.0.0.1 for ``make demo`` and the TLS collector's tests.

Django-free and network-free: :func:`start_tls_endpoint` makes a test CA with ``trustme``,
issues a certificate for ``localhost``/``127.0.0.1`` and serves HTTPS (one tiny page with a
``Strict-Transport-Security`` header) from a background thread::

    host_port, ca_pem_path, stop = start_tls_endpoint()
    # collect with tls_endpoints: endpoints=[host_port], ca_bundle=ca_pem_path
    stop()

Keyword options configure the protocol range, the HSTS header, the certificate's names and
validity, so tests can start servers that accept TLS 1.0, refuse TLS 1.3, present an expired
certificate or a certificate for the wrong name.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import trustme

__all__ = ["start_tls_endpoint"]

DEFAULT_HSTS = "max-age=31536000; includeSubDomains"
_LEGACY = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)


def _server_context(
    leaf: trustme.LeafCert,
    min_version: ssl.TLSVersion | None,
    max_version: ssl.TLSVersion | None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        if min_version is not None:
            context.minimum_version = min_version
        if max_version is not None:
            context.maximum_version = max_version
    if min_version in _LEGACY:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS < 1.2 otherwise
    return context


def _response(hsts: str | None) -> bytes:
    body = b"pixaudit TLS sandbox\n"
    head = ["HTTP/1.1 200 OK", "Content-Type: text/plain", f"Content-Length: {len(body)}"]
    if hsts:
        head.append(f"Strict-Transport-Security: {hsts}")
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def _serve_one(conn: socket.socket, context: ssl.SSLContext, reply: bytes) -> None:
    conn.settimeout(5)
    try:
        with context.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = tls.recv(4096)
                if not chunk:
                    return  # a handshake-only probe
                data += chunk
            tls.sendall(reply)
    except (OSError, ssl.SSLError):
        pass  # refused versions, probes closing early: expected
    finally:
        conn.close()


def start_tls_endpoint(
    *,
    names: Sequence[str] = ("localhost", "127.0.0.1"),
    min_version: ssl.TLSVersion | None = ssl.TLSVersion.TLSv1_2,
    max_version: ssl.TLSVersion | None = None,
    hsts: str | None = DEFAULT_HSTS,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[str, str, Callable[[], None]]:
    """Serve HTTPS on ``127.0.0.1`` (random port); return ``(host_port, ca_pem_path, stop)``.

    ``host_port`` is ``"127.0.0.1:<port>"``; ``ca_pem_path`` is the PEM file of the throwaway
    CA that issued the certificate (for names ``names``, valid from ``not_before`` to
    ``not_after``, trustme's defaults otherwise); ``stop()`` shuts the server down and removes
    the CA file. ``hsts=None`` omits the Strict-Transport-Security header.
    """
    ca = trustme.CA()
    leaf = ca.issue_cert(*names, not_before=not_before, not_after=not_after)
    context = _server_context(leaf, min_version, max_version)
    folder = Path(tempfile.mkdtemp(prefix="pixaudit-tls-"))
    ca_path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()
    reply = _response(hsts)

    def accept_loop() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve_one, args=(conn, context, reply), daemon=True).start()

    thread = threading.Thread(target=accept_loop, name="tls-sandbox", daemon=True)
    thread.start()
    port = listener.getsockname()[1]

    def stop() -> None:
        stopping.set()
        thread.join(timeout=5)
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)

    return f"127.0.0.1:{port}", str(ca_path), stop
