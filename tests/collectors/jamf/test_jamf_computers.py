"""``jamf_computers`` against hand-written Jamf Pro API responses served on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import CollectorError, ErrorKind, Status
from collectors._devices import DEVICE_COLUMN_NAMES
from collectors._http import HTTPSession
from collectors.jamf.jamf_computers import JamfComputersCollector
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jamf_computers"
SECRET = "scrubbedJamfClientSecret0123456789abcdef"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROFILE = "Screen Lock (5 min)"


def _run(base_url: str, **kw: object):  # type: ignore[no-untyped-def]
    params = {"base_url": base_url, "client_id": "0a1b2c3d-pixaudit", "client_secret": SECRET}
    params.update({"page_size": 2, "screen_lock_profiles": [PROFILE], **kw.pop("params", {})})
    return run_collector(JamfComputersCollector, params, now=NOW, **kw)


def _by_name(result, assertion_id: str) -> dict:
    names = {r["device_id"]: r["name"] for r in result.rows}
    return {names.get(res, res): st for res, st in result.statuses(assertion_id).items()}


def test_collector_is_conformant() -> None:
    assert lint_collector(JamfComputersCollector) == []
    names = tuple(c.name for c in JamfComputersCollector.columns)
    assert names[: len(DEVICE_COLUMN_NAMES)] == DEVICE_COLUMN_NAMES


def test_inventory_pages_token_renewal_rate_limit_and_verdicts() -> None:
    waits: list[float] = []
    session = HTTPSession(sleep=waits.append, allow_http_loopback=True)
    with serve_fixtures(FIXTURES) as server:
        result = _run(server.base_url, http_session=session)
    assert waits == [3.0]  # the 429's Retry-After
    # The 401 on page 1 fetched one new token; the page was then read with it.
    assert server.hits("POST /api/oauth/token") == 2
    inventory = [r for r in server.requests if r["path"].startswith("/api/v3/")]
    assert inventory[-1]["headers"]["Authorization"].endswith("NumberTwo000000")
    token_form = server.requests[0]["body"].decode()
    assert (
        "grant_type=client_credentials" in token_form
        and "client_id=0a1b2c3d-pixaudit" in token_form
    )
    rows = {r["name"]: r for r in result.rows}
    assert list(rows) == ["Alice's MacBook Pro", "Bob's MacBook Air", "Carol's iMac"]
    assert rows["Alice's MacBook Pro"]["os_name"] == "macOS 15.1"
    assert rows["Bob's MacBook Air"]["filevault_state"] == "UNENCRYPTED"
    assert rows["Carol's iMac"]["disk_encrypted"] is None
    assert _by_name(result, "jamf_computers.disk_encrypted") == {
        "Alice's MacBook Pro": Status.PASS, "Bob's MacBook Air": Status.FAIL,
        "Carol's iMac": Status.ERROR}  # fmt: skip
    assert _by_name(result, "jamf_computers.screen_lock") == {
        "Alice's MacBook Pro": Status.PASS, "Bob's MacBook Air": Status.FAIL,
        "Carol's iMac": Status.PASS}  # fmt: skip
    assert _by_name(result, "jamf_computers.os_supported") == {
        "Alice's MacBook Pro": Status.PASS, "Bob's MacBook Air": Status.FAIL,
        "Carol's iMac": Status.PASS}  # fmt: skip
    assert _by_name(result, "jamf_computers.checked_in") == {
        "Alice's MacBook Pro": Status.PASS, "Bob's MacBook Air": Status.FAIL,
        "Carol's iMac": Status.PASS}  # fmt: skip
    assert "41 days ago" in result.finding("jamf_computers.checked_in", "2").message
    # The client secret and the access tokens never reach a message.
    text = " ".join(f.message for f in result.findings)
    assert SECRET not in text and "NumberOne" not in text


def test_without_a_named_profile_the_screen_lock_is_one_error() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = _run(server.base_url, sleep=lambda _: None, params={"screen_lock_profiles": []})
    assert _by_name(result, "jamf_computers.screen_lock") == {"*": Status.ERROR}
    assert "screen_lock_profiles" in result.finding("jamf_computers.screen_lock", "*").message


def test_refused_client_credentials_are_permanent_and_say_what_to_check() -> None:
    body = {"error": "invalid_client"}
    routes = {"POST /api/oauth/token": {"status": 401, "body": body}}
    with serve_fixtures(FIXTURES, routes=routes) as server:
        with pytest.raises(CollectorError, match="client id and secret") as info:
            _run(server.base_url)
    assert info.value.permanent and SECRET not in str(info.value)
    assert info.value.kind == ErrorKind.CREDENTIALS
