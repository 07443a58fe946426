"""Secrets go only over HTTPS: destination declarations and the SDK's HTTP session.

The HTTP session refuses to send credentials (a credential header, or a known secret value
anywhere in the request) over plain HTTP; plain HTTP to loopback is allowed only when the
caller switches ``allow_http_loopback`` on (tests' fixture servers), never by default.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from collectors import CollectionContext, Collector, CollectorError, Column, Param, ParamError
from collectors._http import HTTPSession
from collectors.destinations import (
    changed_destinations,
    credential_transport_problem,
    destination_errors,
    is_loopback_host,
)
from collectors.github.github_org import GithubOrgCollector
from collectors.testing import make_context, run_collector, serve_fixtures

TOKEN = "tok-0123456789-secret"
ROUTES = {"GET /data": {"body": {"ok": True}}}


class EchoCollector(Collector):
    """Reads ``GET {base_url}/data`` with a Bearer token (a miniature of an API collector)."""

    key = "testsrc_echo"
    title = "Echo"
    params = (
        Param("base_url", required=True, help="API root.", destination=True),
        Param("token", secret=True, help="Token."),
    )
    columns = (Column("ok", "boolean", "Whether the API said ok."),)
    resource_column = "ok"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row from the API."""
        headers = {"Authorization": f"Bearer {ctx.params['token']}"} if ctx.params["token"] else {}
        return [ctx.http_json("GET", ctx.params["base_url"] + "/data", headers=headers)]


# --- the transport --------------------------------------------------------------------------


def test_credentials_are_refused_over_plain_http_by_default() -> None:
    with serve_fixtures(routes=ROUTES) as server:
        session = HTTPSession(retries=0)
        with pytest.raises(CollectorError) as info:
            session.get(server.url("/data"), headers={"Authorization": f"Bearer {TOKEN}"})
        assert server.requests == []  # nothing left the process
    assert info.value.permanent is True
    assert "secrets are sent only over HTTPS" in info.value.message
    assert TOKEN not in info.value.message


def test_a_context_in_production_refuses_plain_http_even_to_loopback() -> None:
    with serve_fixtures(routes=ROUTES) as server:
        ctx = CollectionContext({}, secrets=[TOKEN])  # the runner's default: loopback off
        with pytest.raises(CollectorError, match="only over HTTPS"):
            ctx.http_json("GET", server.url("/data"), headers={"X-Api-Key": TOKEN})
        # a secret value anywhere (here in the query string) counts as a credential too
        with pytest.raises(CollectorError, match="only over HTTPS"):
            ctx.http_json("GET", server.url("/data"), params={"key": TOKEN})
        assert server.requests == []


def test_loopback_is_allowed_only_when_switched_on() -> None:
    with serve_fixtures(routes=ROUTES) as server:
        session = HTTPSession(retries=0, allow_http_loopback=True)
        response = session.get(server.url("/data"), headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.json() == {"ok": True}
        ctx = make_context()  # the test helper switches it on for fixture servers
        assert ctx.http_json("GET", server.url("/data"), headers={"Cookie": "s=1"}) == {"ok": True}
    # Only loopback: a plain-HTTP remote host is refused before any name is resolved.
    session = HTTPSession(retries=0, allow_http_loopback=True)
    with pytest.raises(CollectorError, match="not to http://api.example.invalid"):
        session.get("http://api.example.invalid/x", headers={"Authorization": "Bearer x"})


def test_requests_without_credentials_may_use_plain_http() -> None:
    with serve_fixtures(routes=ROUTES) as server:
        ctx = CollectionContext({}, secrets=[TOKEN])
        assert ctx.http_json("GET", server.url("/data")) == {"ok": True}


@pytest.fixture
def https_redirect(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """An HTTPS server (throwaway CA) that redirects every GET to a plain-HTTP server."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serve_fixtures(routes=ROUTES) as plain:

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", plain.url("/data"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            yield f"https://127.0.0.1:{httpd.server_address[1]}", str(ca_file), plain
        finally:
            httpd.shutdown()
            httpd.server_close()


def test_a_redirect_from_https_to_plain_http_does_not_carry_credentials(
    https_redirect: tuple[str, str, Any],
) -> None:
    https_url, ca_file, plain = https_redirect
    session = HTTPSession(retries=0)
    # requests drops Authorization on such a redirect but keeps other headers: a token
    # header would have followed the redirect without the session's check.
    with pytest.raises(CollectorError, match="refusing to send credentials to http://127"):
        session.get(https_url + "/start", headers={"PRIVATE-TOKEN": TOKEN}, verify=ca_file)
    assert plain.requests == []
    # Without credentials the redirect is followed.
    assert session.get(https_url + "/start", verify=ca_file).json() == {"ok": True}


# --- validation of destinations ---------------------------------------------------------------


def test_plain_http_destination_is_refused_when_the_collector_holds_a_secret() -> None:
    decl = EchoCollector.params
    assert destination_errors(decl, {"base_url": "http://api.example.com", "token": TOKEN}) == {
        "base_url": "Secrets are sent only over HTTPS, not to http://api.example.com: use an "
        "https:// URL."
    }
    assert destination_errors(decl, {"base_url": "https://api.example.com", "token": TOKEN}) == {}
    # no secret set: nothing to protect (an open report may be read over http)
    assert destination_errors(decl, {"base_url": "http://api.example.com", "token": None}) == {}
    # loopback only with the switch on
    local = {"base_url": "http://127.0.0.1:8080", "token": TOKEN}
    assert "base_url" in destination_errors(decl, local)
    assert destination_errors(decl, local, allow_http_loopback=True) == {}


def test_run_collector_refuses_an_http_destination_like_the_runner() -> None:
    with pytest.raises(ParamError) as info:
        run_collector(EchoCollector, {"base_url": "http://api.example.com", "token": TOKEN})
    assert "only over HTTPS" in info.value.errors["base_url"]
    with serve_fixtures(routes=ROUTES) as server:
        with pytest.raises(ParamError):
            run_collector(
                EchoCollector,
                {"base_url": server.base_url, "token": TOKEN},
                allow_http_loopback=False,
            )
        result = run_collector(EchoCollector, {"base_url": server.base_url, "token": TOKEN})
    assert result.rows == [{"ok": True}]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.github.com", True),
        ("HTTPS://API.GITHUB.COM/api/v3", True),
        ("http://api.github.com", False),
        ("ftp://files.example.com", False),
        ("https://", False),
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
    ],
)
def test_credential_transport_rules(url: str, allowed: bool) -> None:
    assert (credential_transport_problem(url) is None) is allowed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.5.0.9", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("10.0.0.1", False), ("127.0.0.1.nip.io", False), (None, False)],
)  # fmt: skip
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_changed_destinations_counts_defaults() -> None:
    decl = GithubOrgCollector.params
    default = {"org": "acme", "base_url": "https://api.github.com"}
    assert changed_destinations(decl, {"org": "acme"}, default) == []  # missing = default
    assert changed_destinations(decl, default, {**default, "org": "other"}) == []
    moved = {**default, "base_url": "https://attacker.example"}
    assert changed_destinations(decl, default, moved) == ["base_url"]


def test_every_builtin_with_secrets_declares_its_destinations() -> None:
    from collectors import registry

    registry.discover()
    declared = {
        cls.key: [p.name for p in cls.params if p.destination]
        for cls in registry.all_collectors()
        if cls.key in {"github_org", "github_repos", "okta_users", "postgres_server"}
        or cls.source == "aws"
    }
    assert declared["github_org"] == declared["github_repos"] == ["base_url"]
    assert declared["okta_users"] == ["base_url"]
    assert declared["postgres_server"] == ["dsn"]  # host and password in one secret
    assert {tuple(v) for k, v in declared.items() if k.startswith("aws_")} == {("role_arn",)}
