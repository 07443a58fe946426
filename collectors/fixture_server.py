"""A local server of recorded HTTP responses, for testing collectors that call HTTP APIs.

:func:`serve_fixtures` (also exported by :mod:`collectors.testing`) serves the routes of a
fixture folder's ``routes.json`` on ``127.0.0.1`` for the length of a ``with`` block, over
plain HTTP or over HTTPS with a throwaway CA. From the command line it serves until Ctrl-C,
so a collector can be run against recorded answers with ``manage.py collect``::

    python -m collectors.fixture_server tests/collectors/fixtures/<key> --https \\
        --write-params params.json

``--write-params`` sets ``base_url`` (and ``ca_bundle`` over HTTPS) in a params JSON file,
keeping its other keys (an ``api_token``, say).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["FixtureServer", "main", "serve_fixtures", "write_params"]


def _normalise_target(target: str) -> str:
    """``"/a?b=2&a=1"`` -> ``"/a?a=1&b=2"`` so query order never matters."""
    parts = urlsplit(target)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path or "/"
    return f"{path}?{urlencode(query)}" if query else path


@dataclass
class FixtureServer:
    """A running fixture server: ``base_url``, and ``requests`` received (for assertions).

    ``ca_bundle`` is the path of the throwaway CA's PEM file when the server speaks HTTPS
    (``None`` over plain HTTP): pass it as the collector's ``ca_bundle`` param.
    """

    base_url: str
    ca_bundle: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Routes as loaded (after parsing ``routes.json``), keyed by ``"METHOD /path?query"``.
    routes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _hits: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def hits(self, route: str) -> int:
        """How many requests the route ``"METHOD /path?query"`` (as declared) has served."""
        method, _, target = route.strip().partition(" ")
        return self._hits.get(f"{method.upper()} {_normalise_target(target.strip())}", 0)


def _load_routes(directory: Path | None, routes: Mapping[str, Any] | None) -> dict[str, Any]:
    loaded: dict[str, Any] = {}
    if directory is not None and (directory / "routes.json").exists():
        loaded.update(json.loads((directory / "routes.json").read_text(encoding="utf-8")))
    if routes:
        loaded.update(routes)
    result: dict[str, list[dict[str, Any]]] = {}
    for key, spec in loaded.items():
        method, _, target = key.strip().partition(" ")
        if not target:
            raise ValueError(f"route {key!r} must look like 'GET /path?query'")
        responses = spec if isinstance(spec, list) else [spec]
        if not responses:
            raise ValueError(f"route {key!r} has no responses")
        result[f"{method.upper()} {_normalise_target(target.strip())}"] = responses
    return result


def _contains(actual: Any, expected: Any) -> bool:
    """True when ``expected`` is part of ``actual``: every key of an expected object is in
    the actual object with a contained value; other values (lists included) are equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            name in actual and _contains(actual[name], value) for name, value in expected.items()
        )
    return bool(actual == expected)


def _matching(
    responses: list[dict[str, Any]], body: bytes, key: str
) -> tuple[list[dict[str, Any]] | None, str]:
    """The responses of a route whose ``request`` is contained in the request's JSON body
    (responses without ``request`` match any body), and the hit-counter key of that
    selection, so each distinct request walks its own list."""
    try:
        sent = json.loads(body or b"null")
    except ValueError:
        sent = None
    chosen = [i for i, r in enumerate(responses) if "request" not in r
              or _contains(sent, r["request"])]  # fmt: skip
    if not chosen:
        return None, key
    return [responses[i] for i in chosen], f"{key} #{','.join(map(str, chosen))}"


def _render(
    spec: Mapping[str, Any], directory: Path | None, base_url: str
) -> tuple[int, dict[str, str], bytes]:
    status = int(spec.get("status", 200))
    headers = {
        str(k): str(v).replace("{base_url}", base_url)
        for k, v in (spec.get("headers") or {}).items()
    }
    if "body_file" in spec:
        if directory is None:
            raise ValueError("body_file needs a fixture directory")
        text = (directory / spec["body_file"]).read_text(encoding="utf-8")
        headers.setdefault("Content-Type", "application/json")
    elif "body" in spec:
        body = spec["body"]
        if isinstance(body, str):
            text = body
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            text = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
    else:
        text = ""
    return status, headers, text.replace("{base_url}", base_url).encode("utf-8")


class _ThrowawayTLS:
    """A CA made for one server, its certificate for 127.0.0.1, and the CA's PEM file."""

    def __init__(self) -> None:
        try:
            import trustme
        except ImportError:  # pragma: no cover - trustme is a test dependency of pixaudit
            raise RuntimeError("serve_fixtures(https=True) needs the trustme package") from None
        ca = trustme.CA()
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self.server_context)
        self._directory = tempfile.mkdtemp(prefix="fixture-ca-")
        self.ca_bundle = str(Path(self._directory) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)

    def cleanup(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)


class _QuietHTTPServer(ThreadingHTTPServer):
    """Clients that hang up or fail the TLS handshake are normal in tests: no tracebacks."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _TLSHTTPServer(_QuietHTTPServer):
    """Wraps each accepted connection; the handshake runs in the handler thread, so a client
    that never completes it cannot stall the accept loop."""

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext):
        self.ssl_context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address


@contextmanager
def serve_fixtures(
    directory: str | Path | None = None,
    *,
    routes: Mapping[str, Any] | None = None,
    https: bool = False,
    port: int = 0,
    generate: Callable[[str, str, str], Mapping[str, Any] | None] | None = None,
) -> Iterator[FixtureServer]:
    """Serve recorded HTTP responses on ``127.0.0.1`` (random port) for the ``with`` block.

    With ``https=True`` the server speaks TLS with a certificate for ``127.0.0.1`` and
    ``localhost`` issued by a throwaway CA (``trustme``) made for this server alone; its PEM
    file is ``server.ca_bundle``, which the test passes as the collector's ``ca_bundle``
    param (``ctx.http`` trusts it) or as ``verify=``. Nothing else trusts that CA, so a
    client that is not given it fails verification, as it would against a real impostor.

    Routes come from ``<directory>/routes.json`` (and/or the ``routes`` argument, which wins),
    a JSON object mapping ``"METHOD /path?query"`` to a response or a list of responses::

        {
          "GET /orgs/acme/members": {
            "status": 200,
            "headers": {"Link": "<{base_url}/orgs/acme/members?page=2>; rel=\\"next\\""},
            "body_file": "members_page1.json"
          },
          "GET /orgs/acme/members?page=2": {"body_file": "members_page2.json"},
          "GET /rate-limited": [
            {"status": 429, "headers": {"Retry-After": "3"}, "body": {"message": "slow down"}},
            {"status": 200, "body": []}
          ]
        }

    A response has ``status`` (default 200), ``headers``, and ``body_file`` (relative to the
    directory), ``body`` (JSON value, or a string sent as text), or neither (empty body).
    ``{base_url}`` in headers and bodies is replaced by the server's base URL, so recorded
    ``Link`` headers and absolute URLs point back at the fixture server. A list is served in
    order, one per request, and its last response repeats. Query parameter order does not
    matter; a request whose query matches no route falls back to the route without query.
    ``generate(method, target, base_url)``, when given, answers the requests no route matches
    (``target`` is the path with its query sorted) with a response spec built on the fly, or
    ``None``: benchmarks serve large generated populations this way without holding them.
    A response with ``request`` (a JSON object) answers only requests whose JSON body
    contains it (its keys with contained values; lists and other values equal), so one
    ``POST /graphql`` route can answer each query and its variables::

        "POST /graphql": [
          {"request": {"operationName": "Teams"}, "body_file": "teams.json"},
          {"request": {"variables": {"after": null}}, "status": 400, "body": {...}},
          {"request": {"variables": {"after": null}}, "body_file": "page1.json"}
        ]

    Responses matching the same request are served in order (the last repeats), counted
    apart from those of other requests; a request that no response matches answers 404.
    An unknown route answers 404 with ``{"message": "no fixture for ..."}``. Every request is
    recorded in ``server.requests`` (method, path, headers, body) to assert on.
    """
    folder = Path(directory) if directory is not None else None
    table = _load_routes(folder, routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without this, the client's delayed ACK
        # holds each keep-alive response for about 40 ms
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = _normalise_target(self.path)
            key = f"{self.command} {target}"
            with server_state._lock:
                server_state.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                    }
                )
                if key not in table:
                    key = f"{self.command} {target.split('?')[0]}"
                if key not in table:
                    key = f"{self.command} {target}"
                responses = table.get(key)
                if responses is not None and any("request" in r for r in responses):
                    responses, key = _matching(responses, body, key)
                index = server_state._hits.get(key, 0)
                server_state._hits[key] = index + 1
            if responses is None and generate is not None:
                generated = generate(self.command, target, server_state.base_url)
                responses = [generated] if generated is not None else None
                index = 0
            if responses is None:
                status, headers, payload = (
                    404,
                    {"Content-Type": "application/json"},
                    json.dumps({"message": f"no fixture for {self.command} {target}"}).encode(),
                )
            else:
                spec = responses[min(index, len(responses) - 1)]
                status, headers, payload = _render(spec, folder, server_state.base_url)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Stay quiet: test output should not be flooded with access logs."""

    tls = _ThrowawayTLS() if https else None
    httpd: ThreadingHTTPServer
    if tls is not None:
        httpd = _TLSHTTPServer(("127.0.0.1", port), Handler, tls.server_context)
    else:
        httpd = _QuietHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    host, bound = httpd.server_address[:2]
    server_state = FixtureServer(
        base_url=f"{'https' if tls else 'http'}://{host}:{bound}",
        ca_bundle=tls.ca_bundle if tls else None,
        routes=table,
    )
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="fixture-server",
        daemon=True,
    )
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
        if tls is not None:
            tls.cleanup()


def write_params(path: str | Path, server: FixtureServer) -> dict[str, Any]:
    """Set ``base_url`` and ``ca_bundle`` (removed over plain HTTP) in the JSON file ``path``.

    Other keys of an existing JSON object are kept; a missing file is created. Returns the
    params written.
    """
    target = Path(path)
    params: dict[str, Any] = {}
    if target.exists():
        loaded = json.loads(target.read_text(encoding="utf-8") or "{}")
        if not isinstance(loaded, dict):
            raise ValueError(f"{target} must hold a JSON object")
        params = loaded
    params["base_url"] = server.base_url
    if server.ca_bundle:
        params["ca_bundle"] = server.ca_bundle
    else:
        params.pop("ca_bundle", None)
    target.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    return params


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fixture folder until Ctrl-C (or SIGTERM); see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m collectors.fixture_server",
        description="Serve a fixture folder's routes.json on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("directory", help="folder holding routes.json (and its body files)")
    parser.add_argument("--https", action="store_true", help="TLS with a throwaway CA")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--write-params",
        metavar="FILE.json",
        help="set base_url (and ca_bundle) in this params file, keeping its other keys",
    )
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    if not (directory / "routes.json").is_file():
        parser.error(f"{directory / 'routes.json'} does not exist")
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # stop cleanly: the CA is removed
    try:
        with serve_fixtures(directory, https=args.https, port=args.port) as server:
            print(f"Serving {directory} on {server.base_url}", flush=True)
            if server.ca_bundle:
                print(f"CA bundle (pass it as the ca_bundle param): {server.ca_bundle}")
            if args.write_params:
                write_params(args.write_params, server)
                what = "base_url and ca_bundle" if server.ca_bundle else "base_url"
                print(f"Wrote {what} to {args.write_params}")
            print("Press Ctrl-C to stop.", flush=True)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
