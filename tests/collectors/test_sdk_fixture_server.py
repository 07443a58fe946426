"""serve_fixtures over HTTPS with a throwaway CA, and the fixture server's command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from collectors import CollectorError
from collectors.fixture_server import write_params
from collectors.testing import make_context, serve_fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "sdk_http"
ROOT = Path(__file__).resolve().parents[2]


def test_https_server_is_trusted_through_its_ca_bundle_only() -> None:
    with serve_fixtures(FIXTURES, https=True) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        assert server.ca_bundle is not None and Path(server.ca_bundle).is_file()
        url = server.url("/orgs/acme/members")
        assert requests.get(url, verify=server.ca_bundle, timeout=5).json()[0]["login"] == "alice"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, timeout=5)  # the system store does not know the throwaway CA
        # a plain-HTTP client cannot stall the server: the next HTTPS request is served
        with pytest.raises(requests.ConnectionError):
            requests.get(url.replace("https://", "http://"), timeout=5)
        assert requests.get(url, verify=server.ca_bundle, timeout=5).status_code == 200
        bundle = server.ca_bundle
    assert not Path(bundle).exists()  # the CA leaves nothing behind


def test_ca_bundle_param_is_trusted_by_ctx_http() -> None:
    with serve_fixtures(FIXTURES, https=True) as server:
        ctx = make_context({"ca_bundle": server.ca_bundle})
        assert ctx.http_json("GET", server.url("/orgs/acme/members"))[1]["login"] == "bob"
        waits: list[float] = []
        untrusting = make_context(sleep=waits.append)
        with pytest.raises(CollectorError) as info:
            untrusting.http_json("GET", server.url("/orgs/acme/members?token=s3cret"))
    assert info.value.permanent is True  # not retried: a certificate does not become trusted
    assert waits == []
    assert info.value.message.startswith(
        f"TLS error calling GET {server.base_url}/orgs/acme/members: certificate verify failed: "
    )
    assert "s3cret" not in info.value.message


def test_a_missing_ca_bundle_is_a_permanent_error_that_names_it(tmp_path: Path) -> None:
    ctx = make_context({"ca_bundle": str(tmp_path / "nope.pem")})
    with pytest.raises(CollectorError, match=r"ca_bundle .*nope.pem is not a readable PEM file"):
        ctx.http.get("https://127.0.0.1:9/")


def test_plain_http_server_has_no_ca_bundle() -> None:
    with serve_fixtures(routes={"GET /x": {"body": []}}) as server:
        assert server.ca_bundle is None and server.base_url.startswith("http://")


def test_write_params_keeps_other_keys(tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"api_token": "t0ken", "ca_bundle": "/old.pem"}))
    with serve_fixtures(routes={}) as server:
        written = write_params(params, server)
    assert written == {"api_token": "t0ken", "base_url": server.base_url}
    assert json.loads(params.read_text()) == written
    params.write_text("[1]")
    with serve_fixtures(routes={}) as server, pytest.raises(ValueError, match="JSON object"):
        write_params(params, server)


def test_command_line_serves_until_terminated_and_writes_params(tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text('{"api_token": "t0ken"}')
    command = [sys.executable, "-m", "collectors.fixture_server", str(FIXTURES), "--https"]
    process = subprocess.Popen(
        [*command, "--write-params", str(params)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[0].startswith(f"Serving {FIXTURES} on https://127.0.0.1:")
        assert lines[3] == "Press Ctrl-C to stop.\n"
        written = json.loads(params.read_text())
        assert written["api_token"] == "t0ken"
        response = requests.get(
            written["base_url"] + "/orgs/acme/members", verify=written["ca_bundle"], timeout=5
        )
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert not Path(written["ca_bundle"]).exists()


def test_command_line_refuses_a_folder_without_routes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collectors.fixture_server", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert "routes.json does not exist" in result.stderr


def test_generate_answers_what_no_route_matches() -> None:
    seen: list[tuple[str, str]] = []

    def generate(method: str, target: str, base_url: str) -> dict[str, object] | None:
        seen.append((method, target))
        if target.startswith("/items/"):
            return {"body": {"id": target.rsplit("/", 1)[1]}, "headers": {"X-Base": base_url}}
        return None

    with serve_fixtures(
        routes={"GET /items/1": {"body": {"id": "recorded"}}}, generate=generate
    ) as server:
        assert requests.get(server.url("/items/1"), timeout=5).json() == {"id": "recorded"}
        generated = requests.get(server.url("/items/7?b=2&a=1"), timeout=5)
        assert generated.json() == {"id": "7?a=1&b=2"}
        assert generated.headers["X-Base"] == server.base_url
        assert requests.get(server.url("/other"), timeout=5).status_code == 404
    assert seen == [("GET", "/items/7?a=1&b=2"), ("GET", "/other")]


def test_responses_can_answer_one_request_body_each() -> None:
    page = {"operationName": "Issues", "variables": {"after": None}}
    routes = {
        "POST /graphql": [
            {"request": {"operationName": "Viewer"}, "body": {"data": {"viewer": {"id": "u1"}}}},
            {"request": page, "status": 400, "body": {"errors": [{"message": "slow down"}]}},
            {"request": page, "body": {"data": "page 1"}},
            {"request": {"variables": {"after": "c1"}}, "body": {"data": "page 2"}},
        ]
    }
    with serve_fixtures(routes=routes) as server:

        def post(body: object) -> requests.Response:
            return requests.post(server.url("/graphql"), json=body, timeout=5)

        assert post({**page, "query": "{ ... }"}).status_code == 400
        assert post({"operationName": "Viewer"}).json() == {"data": {"viewer": {"id": "u1"}}}
        assert post({**page, "query": "{ ... }"}).json() == {"data": "page 1"}  # its own order
        assert post({**page, "query": "{ ... }"}).json() == {"data": "page 1"}  # last repeats
        later = {"operationName": "Issues", "variables": {"after": "c1", "first": 50}}
        assert post(later).json() == {"data": "page 2"}
        unmatched = post({"operationName": "Issues", "variables": {"after": "c9"}})
        assert unmatched.status_code == 404
        assert requests.post(server.url("/graphql"), data=b"not json", timeout=5).status_code == 404
