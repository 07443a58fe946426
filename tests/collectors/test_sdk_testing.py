"""collectors.testing: serve_fixtures behaviour and run_collector end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Param,
    ParamError,
    Severity,
    Status,
    assertion,
    registry,
)
from collectors.testing import make_context, run_collector, serve_fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "sdk_http"


def test_serve_fixtures_routes_bodies_and_recording() -> None:
    with serve_fixtures(FIXTURES) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        first = requests.get(server.url("/orgs/acme/members"), headers={"X-Test": "1"}, timeout=5)
        assert first.status_code == 200
        assert first.json() == [{"login": "alice", "id": 1}, {"login": "bob", "id": 2}]
        assert first.links["next"]["url"] == (
            f"{server.base_url}/orgs/acme/members?page=2&per_page=2"
        )
        # query parameter order does not matter
        second = requests.get(server.url("/orgs/acme/members?page=2&per_page=2"), timeout=5)
        assert second.json() == [{"login": "carol", "id": 3}]
        assert requests.get(server.url("/self"), timeout=5).json() == {
            "self": f"{server.base_url}/self"
        }
        missing = requests.get(server.url("/nope"), timeout=5)
        assert missing.status_code == 404
        assert missing.json() == {"message": "no fixture for GET /nope"}
        assert server.requests[0]["headers"]["X-Test"] == "1"
        assert [r["path"] for r in server.requests] == [
            "/orgs/acme/members",
            "/orgs/acme/members?page=2&per_page=2",
            "/self",
            "/nope",
        ]


def test_serve_fixtures_sequences_repeat_last_and_fallback_query() -> None:
    routes = {
        "GET /seq": [{"status": 429}, {"status": 200, "body": {"n": 2}}],
        "POST /echo": {"status": 201, "body": "created"},
    }
    with serve_fixtures(routes=routes) as server:
        codes = [requests.get(server.url("/seq?x=1"), timeout=5).status_code for _ in range(3)]
        assert codes == [429, 200, 200]
        assert server.hits("GET /seq") == 3
        posted = requests.post(server.url("/echo"), json={"a": 1}, timeout=5)
        assert (posted.status_code, posted.text) == (201, "created")
        assert server.requests[-1]["body"] == b'{"a": 1}'


def test_serve_fixtures_rejects_malformed_route() -> None:
    with pytest.raises(ValueError, match="must look like"), serve_fixtures(routes={"GET": {}}):
        pass


class EchoCollector(Collector):
    """Test collector: reports the ``items`` param, records a partial error."""

    key = "test_echo"
    title = "Echo"
    params = (
        Param("items", "json", required=True, help="Rows."),
        Param("token", secret=True, help="Token."),
        Param("fail", "boolean", default=False, help="Raise a permanent error."),
    )
    columns = (
        Column("id", "string", "Id."),
        Column("size", "integer", "Size."),
        Column("seen_at", "datetime", "When."),
    )
    resource_column = "id"
    max_age = timedelta(hours=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Echo the rows, stamping them with ctx.now()."""
        if ctx.params["fail"]:
            raise CollectorError("denied", permanent=True, action="echo:List")
        ctx.identity = "tester"
        ctx.record_call("echo:List")
        ctx.logger.info("token is %s", ctx.params["token"])
        rows = []
        for item in ctx.params["items"]:
            if item.get("hidden"):
                ctx.error("cannot read size", resource=item["id"], assertions=["test_echo.small"])
                continue
            rows.append({"id": item["id"], "size": item["size"], "seen_at": ctx.now()})
        return rows

    @assertion(
        "test_echo.small",
        title="Items are small",
        severity=Severity.LOW,
        remediation="Shrink.",
        controls=("soc2-2017:CC6.1",),
        params=(Param("max_size", "integer", default=10),),
    )
    def small(row: dict[str, Any], params: dict[str, Any]) -> tuple[Status, str]:
        """Size at most max_size."""
        ok = row["size"] <= params["max_size"]
        return (Status.PASS if ok else Status.FAIL), f"{row['id']} has size {row['size']}."


ITEMS = [{"id": "a", "size": "3"}, {"id": "b", "size": 30}, {"id": "c", "hidden": True}]


def test_run_collector_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    now = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    with caplog.at_level("INFO"):
        result = run_collector(EchoCollector, {"items": ITEMS, "token": "tok-abcdef"}, now=now)
    assert result.rows == [
        {"id": "a", "size": 3, "seen_at": "2024-02-03T04:05:06.000000Z"},
        {"id": "b", "size": 30, "seen_at": "2024-02-03T04:05:06.000000Z"},
    ]
    assert result.statuses("test_echo.small") == {
        "a": Status.PASS,
        "b": Status.FAIL,
        "c": Status.ERROR,
    }
    assert result.finding("test_echo.small", "c").message == "cannot read size"
    assert result.finding("test_echo.small", "b").thresholds == {"max_size": 10}
    assert result.identity == "tester"
    assert result.api_calls == ["echo:List"]
    assert result.errors[0]["resource"] == "c"
    assert "tok-abcdef" not in caplog.text
    assert "token is ********" in caplog.text
    with pytest.raises(LookupError, match="resources"):
        result.finding("test_echo.small", "zzz")


def test_run_collector_thresholds_and_param_errors() -> None:
    result = run_collector(
        EchoCollector, {"items": ITEMS[:2]}, thresholds={"test_echo.small": {"max_size": 50}}
    )
    assert set(result.statuses("test_echo.small").values()) == {Status.PASS}
    with pytest.raises(ParamError) as info:
        run_collector(EchoCollector, {"fail": "perhaps"})
    assert set(info.value.errors) == {"items", "fail"}


def test_run_collector_propagates_collector_error() -> None:
    with pytest.raises(CollectorError) as info:
        run_collector(EchoCollector, {"items": [], "fail": True})
    assert info.value.permanent is True
    assert info.value.action == "echo:List"


def test_run_collector_by_key_and_with_ctx() -> None:
    with registry.temporarily(EchoCollector):
        ctx = make_context({"items": ITEMS[:1]}, now=datetime(2024, 1, 1))
        result = run_collector("test_echo", ctx=ctx)
    assert result.rows[0]["seen_at"] == "2024-01-01T00:00:00.000000Z"
    assert ctx.params["fail"] is False  # validated params replaced the raw ones
    assert ctx.thresholds == {"test_echo.small": {"max_size": 10}}  # defaults, as the runner
    assert make_context({}).thresholds == {}
    with registry.temporarily(EchoCollector):
        ctx = make_context({"items": []})
        run_collector("test_echo", ctx=ctx, thresholds={"test_echo.small": {"max_size": 5}})
    assert ctx.thresholds == {"test_echo.small": {"max_size": 5}}  # what collect may read
    # a built-in is found by key after discovery
    assert run_collector("demo_inventory").rows
