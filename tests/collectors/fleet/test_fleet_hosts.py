"""``fleet_hosts`` against hand-written Fleet REST responses served on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, Status
from collectors._devices import DEVICE_COLUMN_NAMES
from collectors._http import HTTPSession
from collectors.fleet.fleet_hosts import FleetHostsCollector
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fleet_hosts"
TOKEN = "scrubbedFleetApiToken0123456789abcdefABCDEF"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _run(base_url: str, **kw: object):  # type: ignore[no-untyped-def]
    params = {"base_url": base_url, "token": TOKEN, "per_page": 2, **kw.pop("params", {})}
    return run_collector(FleetHostsCollector, params, now=NOW, **kw)


def _by_name(result, assertion_id: str) -> dict:
    names = {r["device_id"]: r["name"] for r in result.rows}
    return {names.get(res, res): st for res, st in result.statuses(assertion_id).items()}


def test_collector_is_conformant() -> None:
    assert lint_collector(FleetHostsCollector) == []
    names = tuple(c.name for c in FleetHostsCollector.columns)
    assert names[: len(DEVICE_COLUMN_NAMES)] == DEVICE_COLUMN_NAMES


def test_hosts_policies_pages_rate_limit_and_partial_failure() -> None:
    waits: list[float] = []
    session = HTTPSession(sleep=waits.append, allow_http_loopback=True)
    with serve_fixtures(FIXTURES) as server:
        result = _run(server.base_url, http_session=session)
    assert result.identity == "fleet:pixaudit-api@acme.example"
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    # Three pages of hosts; page 1 answered 429 once and was asked again after retry-after.
    assert 7.0 in waits
    assert [r["name"] for r in result.rows] == [
        "alice-mbp", "bob-mbp", "carol-win", "build-ubuntu", "erin-mbp"]  # fmt: skip
    rows = {r["name"]: r for r in result.rows}
    assert rows["alice-mbp"]["platform"] == "macos"
    assert rows["alice-mbp"]["assigned_user"] == "alice@acme.example"
    assert rows["carol-win"]["os_version"] == "10.0.22631.3296"
    assert rows["build-ubuntu"]["last_seen_at"] is None
    assert rows["carol-win"]["days_since_seen"] == 40
    assert _by_name(result, "fleet_hosts.disk_encrypted") == {
        "alice-mbp": Status.PASS, "bob-mbp": Status.FAIL, "carol-win": Status.PASS,
        "build-ubuntu": Status.ERROR, "erin-mbp": Status.PASS}  # fmt: skip
    # Windows results unreadable (persistent 500): ERROR for Windows hosts and for "*";
    # erin's Mac has no result yet: ERROR; Linux is targeted by no policy: not evaluated.
    assert _by_name(result, "fleet_hosts.screen_lock") == {
        "alice-mbp": Status.PASS, "bob-mbp": Status.FAIL, "carol-win": Status.ERROR,
        "erin-mbp": Status.ERROR, "*": Status.ERROR}  # fmt: skip
    assert "Screen lock enabled (Windows)" in result.finding("fleet_hosts.screen_lock", "*").message
    assert "no result yet" in result.finding("fleet_hosts.screen_lock", "5").message
    assert _by_name(result, "fleet_hosts.os_supported") == {
        "alice-mbp": Status.PASS, "bob-mbp": Status.FAIL, "carol-win": Status.PASS,
        "build-ubuntu": Status.FAIL, "erin-mbp": Status.PASS}  # fmt: skip
    assert _by_name(result, "fleet_hosts.checked_in") == {
        "alice-mbp": Status.PASS, "bob-mbp": Status.PASS, "carol-win": Status.FAIL,
        "build-ubuntu": Status.FAIL, "erin-mbp": Status.PASS}  # fmt: skip
    # Calls grow with pages, never with hosts: no per-host call was made.
    assert not [r for r in server.requests if r["path"].startswith("/api/v1/fleet/hosts/")]
    lists = {r["path"] for r in server.requests if r["path"].startswith("/api/v1/fleet/hosts?")}
    assert len(lists) == 3 + 4  # three pages of hosts, passing/failing of two policies
    assert "fleet:hosts/list" in result.api_calls


def test_thresholds_and_platform_filter() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = _run(
            server.base_url,
            sleep=lambda _: None,
            params={"platforms": ["macos"]},
            thresholds={
                "fleet_hosts.os_supported": {"minimum_versions": {"macos": "14.0"}},
                "fleet_hosts.checked_in": {"max_days": 1},
            },
        )
    assert {r["name"] for r in result.rows} == {"alice-mbp", "bob-mbp", "erin-mbp"}
    assert set(_by_name(result, "fleet_hosts.os_supported").values()) == {Status.PASS}
    assert _by_name(result, "fleet_hosts.checked_in")["bob-mbp"] is Status.FAIL


def test_missing_screen_lock_policies_are_one_clear_error() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = _run(server.base_url, sleep=lambda _: None,
                      params={"screen_lock_policies": ["Locks the screen"]})  # fmt: skip
    star = result.finding("fleet_hosts.screen_lock", "*")
    assert star.status is Status.ERROR and "'Locks the screen'" in star.message
    assert set(_by_name(result, "fleet_hosts.screen_lock")) == {"*"}
    assert _by_name(result, "fleet_hosts.disk_encrypted")["alice-mbp"] is Status.PASS


def test_revoked_token_fails_the_run_permanently() -> None:
    body = {"message": "Authentication required", "errors": [{"name": "base",
            "reason": "Authentication required"}]}  # fmt: skip
    with serve_fixtures(
        FIXTURES, routes={"GET /api/v1/fleet/me": {"status": 401, "body": body}}
    ) as server:  # noqa: E501
        with pytest.raises(CollectorError, match="401") as info:
            _run(server.base_url)
    assert info.value.permanent and TOKEN not in str(info.value)
