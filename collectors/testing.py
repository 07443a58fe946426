"""Helpers for testing collectors, used by the built-ins and by external plugin packages.

- :func:`make_context` builds a :class:`CollectionContext` with an optional fixed clock.
- :func:`run_collector` runs a collector exactly as the runner does (validate params, collect,
  coerce rows, evaluate assertions, turn recorded errors into ERROR findings).
- :func:`serve_fixtures` serves recorded HTTP responses from a folder on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from collectors import registry
from collectors.base import Collector, Finding, ParamError, Status, validate_params
from collectors.context import CollectionContext
from collectors.destinations import destination_errors
from collectors.evaluate import evaluate_assertions
from collectors.schema import coerce_rows

__all__ = [
    "FixtureServer",
    "RunResult",
    "load_json",
    "make_context",
    "run_collector",
    "serve_fixtures",
]


def make_context(
    params: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
    **overrides: Any,
) -> CollectionContext:
    """Return a context for tests; ``now`` freezes :meth:`CollectionContext.now`.

    ``overrides`` are passed to :class:`CollectionContext` (``secrets``, ``time_budget``,
    ``aws_session_factory``, ``http_session``, ``sleep``, ...). Unlike production, the
    context may send credentials over plain HTTP to loopback (``serve_fixtures``); pass
    ``allow_http_loopback=False`` to test that a collector refuses it.
    """
    overrides.setdefault("allow_http_loopback", True)
    if now is not None:
        frozen = now if now.tzinfo else now.replace(tzinfo=UTC)
        overrides.setdefault("clock", lambda: frozen)
    return CollectionContext(dict(params or {}), **overrides)


@dataclass
class RunResult:
    """What one collector run produced: coerced rows, findings, errors and provenance."""

    rows: list[dict[str, Any]]
    findings: list[Finding]
    errors: list[dict[str, Any]]
    api_calls: list[str]
    identity: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def findings_for(self, assertion_id: str) -> list[Finding]:
        """All findings of one assertion, in evaluation order."""
        return [f for f in self.findings if f.assertion_id == assertion_id]

    def statuses(self, assertion_id: str) -> dict[str, Status]:
        """``{resource: status}`` for one assertion."""
        return {f.resource: f.status for f in self.findings_for(assertion_id)}

    def finding(self, assertion_id: str, resource: str) -> Finding:
        """The finding of one assertion for one resource (``LookupError`` if none)."""
        for f in self.findings:
            if f.assertion_id == assertion_id and f.resource == resource:
                return f
        known = sorted(self.statuses(assertion_id))
        raise LookupError(f"no finding for {assertion_id} on {resource!r}; resources: {known}")


def run_collector(
    cls_or_key: type[Collector] | str,
    params: Mapping[str, Any] | None = None,
    *,
    ctx: CollectionContext | None = None,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    **ctx_kw: Any,
) -> RunResult:
    """Run a collector like the runner does and return a :class:`RunResult`.

    Params are validated against the collector's declaration (``ParamError`` on bad input,
    including a destination URL that secrets may not be sent to); the secret values are
    registered for log redaction. ``ctx_kw`` go to :func:`make_context` (e.g. ``now=...``,
    ``aws_session_factory=...``). With ``ctx``, its
    params are validated and replaced by the validated dict. A ``CollectorError`` raised by
    ``collect`` propagates, as it does in the runner.
    """
    if isinstance(cls_or_key, str):
        try:
            cls = registry.get(cls_or_key)
        except KeyError:
            registry.discover()
            cls = registry.get(cls_or_key)
    else:
        cls = cls_or_key
    raw = dict(params or {}) if ctx is None or params is not None else dict(ctx.params)
    validated = validate_params(cls.params, raw)
    allow_loopback = ctx.allow_http_loopback if ctx else ctx_kw.get("allow_http_loopback", True)
    unsafe = destination_errors(cls.params, validated, allow_http_loopback=allow_loopback)
    if unsafe:
        raise ParamError(unsafe)
    secrets = [str(validated[name]) for name in cls.secret_param_names() if validated[name]]
    if ctx is None:
        ctx_kw["secrets"] = [*ctx_kw.get("secrets", ()), *secrets]
        ctx = make_context(validated, **ctx_kw)
    else:
        ctx.params = validated
        for secret in secrets:
            ctx.add_secret(secret)
    rows = coerce_rows(cls.columns, cls().collect(ctx))
    findings = evaluate_assertions(cls, rows, ctx.errors, thresholds=thresholds)
    return RunResult(
        rows=rows,
        findings=findings,
        errors=list(ctx.errors),
        api_calls=ctx.api_calls,
        identity=ctx.identity,
        params=validated,
    )


def load_json(path: str | Path) -> Any:
    """Load a JSON fixture file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


# -- recorded HTTP fixtures -------------------------------------------------------------------


def _normalise_target(target: str) -> str:
    """``"/a?b=2&a=1"`` -> ``"/a?a=1&b=2"`` so query order never matters."""
    parts = urlsplit(target)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path or "/"
    return f"{path}?{urlencode(query)}" if query else path


@dataclass
class FixtureServer:
    """A running fixture server: ``base_url``, and ``requests`` received (for assertions)."""

    base_url: str
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


@contextmanager
def serve_fixtures(
    directory: str | Path | None = None, *, routes: Mapping[str, Any] | None = None
) -> Iterator[FixtureServer]:
    """Serve recorded HTTP responses on ``127.0.0.1`` (random port) for the ``with`` block.

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
    An unknown route answers 404 with ``{"message": "no fixture for ..."}``. Every request is
    recorded in ``server.requests`` (method, path, headers, body) to assert on.
    """
    folder = Path(directory) if directory is not None else None
    table = _load_routes(folder, routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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
                index = server_state._hits.get(key, 0)
                server_state._hits[key] = index + 1
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

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    server_state = FixtureServer(base_url=f"http://{host}:{port}", routes=table)
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
