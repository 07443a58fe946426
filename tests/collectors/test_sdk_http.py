"""The HTTP chokepoint against a real local server (serve_fixtures): retries, errors, pages."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from collectors import CollectorError, RetryBudget
from collectors._http import (
    HTTPSession,
    check_response,
    check_response_reworded,
    iter_link_pages,
    safe_url,
)
from collectors.testing import make_context, serve_fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "sdk_http"


class FakeSleep:
    """Records the requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_429_with_retry_after_is_retried_after_waiting() -> None:
    sleep = FakeSleep()
    with serve_fixtures(FIXTURES) as server:
        ctx = make_context(sleep=sleep)
        assert ctx.http_json("GET", server.url("/busy")) == {"ok": True}
        assert server.hits("GET /busy") == 2
    assert sleep.calls == [3.0]


def test_5xx_is_retried_with_exponential_backoff() -> None:
    sleep = FakeSleep()
    with serve_fixtures(FIXTURES) as server:
        ctx = make_context(sleep=sleep)
        assert ctx.http_json("GET", server.url("/flaky")) == {"ok": True}
    assert sleep.calls == [1.0, 2.0]


def test_retries_give_up_after_max_retries() -> None:
    sleep = FakeSleep()
    routes = {"GET /down": {"status": 500, "body": {"message": "down"}}}
    with serve_fixtures(routes=routes) as server:
        session = HTTPSession(sleep=sleep, retries=2)
        with pytest.raises(CollectorError) as info:
            check_response(session.get(server.url("/down")))
        assert server.hits("GET /down") == 3
    assert info.value.permanent is False
    assert "HTTP 500" in info.value.message
    assert sleep.calls == [1.0, 2.0]


def test_reworded_error_keeps_permanence_and_kind_and_names_the_action() -> None:
    routes = {"GET /gone": {"status": 404, "body": {"error": "no such project"}},
              "GET /fine": {"body": ["ok"]}}  # fmt: skip
    with serve_fixtures(routes=routes) as server:
        session = HTTPSession(sleep=FakeSleep())
        fine = session.get(server.url("/fine"))
        assert check_response_reworded(fine, lambda exc: "unused") is fine
        with pytest.raises(CollectorError) as info:
            check_response_reworded(session.get(server.url("/gone")),
                                    lambda exc: f"Acme getProject: {exc.message}",
                                    action="acme:getProject")  # fmt: skip
    error = info.value
    assert error.message.startswith("Acme getProject: HTTP 404")
    assert error.permanent is True and error.kind == "request"
    assert error.action == "acme:getProject" and error.__cause__ is None


def test_retry_after_http_date_and_rate_limit_reset() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    date = email.utils.format_datetime(datetime(2030, 1, 1, 12, 2, tzinfo=UTC), usegmt=True)
    routes = {
        "GET /dated": [{"status": 503, "headers": {"Retry-After": date}}, {"body": []}],
        "GET /github": [
            {
                "status": 403,
                "headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(now) + 30)},
                "body": {"message": "API rate limit exceeded"},
            },
            {"body": ["ok"]},
        ],
    }
    sleep = FakeSleep()
    with serve_fixtures(routes=routes) as server:
        session = HTTPSession(sleep=sleep, clock=lambda: now)
        assert check_response(session.get(server.url("/dated"))).json() == []
        assert check_response(session.get(server.url("/github"))).json() == ["ok"]
    assert sleep.calls == [120.0, 30.0]


def test_never_sleeps_past_the_budget() -> None:
    sleep = FakeSleep()
    routes = {"GET /slow": {"status": 429, "headers": {"Retry-After": "100"}}}
    with serve_fixtures(routes=routes) as server:
        ctx = make_context(sleep=sleep, time_budget=10)
        with pytest.raises(CollectorError) as info:
            ctx.http_json("GET", server.url("/slow"))
        assert server.hits("GET /slow") == 1
    assert sleep.calls == []
    assert info.value.permanent is False
    assert "retry after 100 s exceeds the time budget" in info.value.message


def test_github_secondary_rate_limit_403_with_retry_after_is_retried() -> None:
    # GitHub's secondary rate limits answer 403 with Retry-After while X-RateLimit-Remaining
    # is still positive: a transient wait, not "check the credentials".
    body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    limited = {
        "status": 403,
        "headers": {"Retry-After": "7", "X-RateLimit-Remaining": "4999"},
        "body": body,
    }
    routes = {"GET /search": [limited, {"body": ["ok"]}], "GET /always": limited}
    sleep = FakeSleep()
    with serve_fixtures(routes=routes) as server:
        ctx = make_context(sleep=sleep)
        assert ctx.http_json("GET", server.url("/search")) == ["ok"]
        assert server.hits("GET /search") == 2
        session = HTTPSession(sleep=sleep, retries=1)
        with pytest.raises(CollectorError) as info:
            check_response(session.get(server.url("/always")))
    assert sleep.calls == [7.0, 7.0]
    assert info.value.permanent is False
    assert "rate limited" in info.value.message


def test_401_is_permanent_and_hides_the_query_string() -> None:
    with serve_fixtures(FIXTURES) as server:
        ctx = make_context()
        with pytest.raises(CollectorError) as info:
            ctx.http_json("GET", server.url("/private?access_token=SECRET123"))
    assert info.value.permanent is True
    assert "HTTP 401" in info.value.message
    assert f"GET {server.base_url}/private" in info.value.message
    assert "SECRET123" not in info.value.message


def test_403_without_rate_limit_is_permanent() -> None:
    with serve_fixtures(FIXTURES) as server, pytest.raises(CollectorError) as info:
        make_context().http_json("GET", server.url("/forbidden"))
    assert info.value.permanent is True
    assert "HTTP 403" in info.value.message


def test_network_error_is_transient_collector_error() -> None:
    with serve_fixtures(routes={}) as server:
        dead = server.base_url  # the port is closed once the server stops
    sleep = FakeSleep()
    session = HTTPSession(sleep=sleep, retries=1)
    with pytest.raises(CollectorError) as info:
        session.get(f"{dead}/x?token=abc")
    assert info.value.permanent is False
    assert "network error calling GET" in info.value.message
    assert "token=abc" not in info.value.message
    assert sleep.calls == [1.0]


def test_link_pagination_follows_next() -> None:
    with serve_fixtures(FIXTURES) as server:
        ctx = make_context()
        pages = list(ctx.http_pages(server.url("/orgs/acme/members")))
        assert [m["login"] for page in pages for m in page] == ["alice", "bob", "carol"]
        responses = list(iter_link_pages(ctx.http, server.url("/orgs/acme/members")))
        assert len(responses) == 2
        assert [r["path"] for r in server.requests][-2:] == [
            "/orgs/acme/members",
            "/orgs/acme/members?page=2&per_page=2",
        ]


def test_pagination_page_cap_is_an_error_not_a_silent_truncation() -> None:
    with serve_fixtures(FIXTURES) as server:
        session = make_context().http
        with pytest.raises(CollectorError, match="more than 1 pages") as info:
            list(iter_link_pages(session, server.url("/orgs/acme/members"), max_pages=1))
        assert (
            len(list(iter_link_pages(session, server.url("/orgs/acme/members"), max_pages=2))) == 2
        )
    assert info.value.permanent is True


def test_pagination_stops_on_a_link_loop() -> None:
    routes = {"GET /loop": {"headers": {"Link": '<{base_url}/loop>; rel="next"'}, "body": [1]}}
    with serve_fixtures(routes=routes) as server:
        pages = list(iter_link_pages(HTTPSession(), server.url("/loop")))
    assert len(pages) == 1


def test_default_timeout_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_request(self: requests.Session, method: str, url: str, **kwargs: object) -> None:
        seen.update(kwargs)
        raise requests.ConnectionError("stop")

    monkeypatch.setattr(requests.Session, "request", fake_request)
    with pytest.raises(CollectorError):
        HTTPSession(retries=0).get("http://127.0.0.1:9/")
    assert seen["timeout"] == (10.0, 60.0)


def test_safe_url_strips_credentials_and_query() -> None:
    assert safe_url("https://user:pw@api.example.com:8443/a/b?token=x#frag") == (
        "https://api.example.com:8443/a/b"
    )


# -- the retry budget -------------------------------------------------------------------------


def _dead_url() -> str:
    with serve_fixtures(routes={}) as server:
        return server.base_url  # the port is closed once the server stops


def test_an_unreachable_url_costs_three_seconds_of_waiting_by_default() -> None:
    sleep = FakeSleep()
    ctx = make_context(sleep=sleep)
    with pytest.raises(CollectorError, match=r"network error calling GET .*\(3 tries\)"):
        ctx.http_json("GET", f"{_dead_url()}/api")
    assert sleep.calls == [1.0, 2.0]
    assert ctx.http_retries == RetryBudget(connect=2, status=5)


def test_a_call_can_bring_its_own_retry_budget() -> None:
    sleep = FakeSleep()
    ctx = make_context(sleep=sleep)
    with pytest.raises(CollectorError, match=r"\(1 try\)"):
        ctx.http.get(f"{_dead_url()}/api", retries=0)
    assert sleep.calls == []
    routes = {"GET /down": {"status": 503}}
    with serve_fixtures(routes=routes) as server:
        budget = RetryBudget(status=1, backoff=0.5)
        response = ctx.http.get(server.url("/down"), retries=budget)
        assert server.hits("GET /down") == 2
    assert response.status_code == 503  # an error status is returned, never raised
    assert sleep.calls == [0.5]


def test_a_collector_sets_its_budget_on_the_context_even_after_first_use() -> None:
    sleep = FakeSleep()
    ctx = make_context(sleep=sleep, http_retries=1)
    dead = _dead_url()
    with pytest.raises(CollectorError, match=r"\(2 tries\)"):
        ctx.http.get(dead)
    ctx.http_retries = RetryBudget(connect=0)
    with pytest.raises(CollectorError, match=r"\(1 try\)"):
        ctx.http.get(dead)
    assert sleep.calls == [1.0]


def test_max_wait_caps_the_seconds_one_call_may_sleep() -> None:
    sleep = FakeSleep()
    routes = {"GET /slow": {"status": 429, "headers": {"Retry-After": "30"}}}
    with serve_fixtures(routes=routes) as server:
        ctx = make_context(sleep=sleep, http_retries=RetryBudget(max_wait=10))
        with pytest.raises(CollectorError) as info:
            ctx.http_json("GET", server.url("/slow"))
        assert server.hits("GET /slow") == 1
    assert sleep.calls == []
    assert "retry after 30 s exceeds the retry budget of 10 s" in info.value.message


def test_an_error_status_that_is_not_retried_comes_back_as_a_response() -> None:
    routes = {"GET /gone": {"status": 404, "body": {"message": "not found"}}}
    with serve_fixtures(routes=routes) as server:
        ctx = make_context()
        response = ctx.http.get(server.url("/gone"))
        assert (response.status_code, server.hits("GET /gone")) == (404, 1)
        with pytest.raises(CollectorError, match="HTTP 404") as info:
            ctx.http_json("GET", server.url("/gone"))
    assert info.value.permanent is True


@pytest.mark.parametrize("bad", [-1, True, "3", 1.5])
def test_a_retry_budget_is_a_retry_budget_or_a_count(bad: object) -> None:
    with pytest.raises(TypeError, match="retries must be"):
        RetryBudget.coerce(bad)  # type: ignore[arg-type]


def test_safe_url_of_a_relative_or_broken_url_still_drops_the_query() -> None:
    assert safe_url("/api/items?token=x#f") == "/api/items"
    assert safe_url("https://HOST.example:443?token=x") == "https://host.example/"


def test_an_injected_session_keeps_its_budget_unless_the_context_names_one() -> None:
    keeps = make_context(http_session=HTTPSession(retries=1))
    assert keeps.http_retries == RetryBudget(connect=1, status=1)
    told = make_context(http_session=HTTPSession(retries=1), http_retries=RetryBudget())
    assert told.http.retries == RetryBudget()  # type: ignore[attr-defined]
