"""aws_inspector_findings: Inspector2 answers served on 127.0.0.1, STS and EC2 from moto.

moto 5.2's inspector2 ``ListFindings`` ignores ``filterCriteria``, never returns a
``nextToken`` and answers whether or not Inspector is enabled, so pagination, the ACTIVE
filter and "not enabled" cannot be tested against it. The Inspector2 API is served instead
by a small HTTP server on 127.0.0.1 (reached through botocore's standard
``AWS_ENDPOINT_URL_INSPECTOR2`` endpoint setting) from the hand-written responses in
``tests/collectors/fixtures/aws_inspector_findings`` (see its README); one test runs the
collector against moto's own inspector2 to check the shapes agree.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from collectors import CollectorError, Severity, Status
from collectors.aws._probe import PROBES
from collectors.aws.aws_inspector_findings import InspectorFindingsCollector
from collectors.lint import lint_collector
from collectors.testing import run_collector

FIXTURES = Path(__file__).parents[1] / "fixtures" / "aws_inspector_findings"
ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DEADLINE = "aws_inspector_findings.remediated_within_deadline"
ARN = "arn:aws:inspector2:{}:123456789012:finding/{}"
SCANNING = "arn:aws:inspector2:{}:123456789012:scanning"
_REGION_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/inspector2/aws4_request")


class InspectorServer:
    """Inspector2's REST-JSON API for the regions of ``responses.json``.

    The region is read from the request's SigV4 credential scope, as AWS's regional
    endpoints imply it. ``throttle[(region, path)] = n`` answers the first ``n`` such
    requests with 429 ``ThrottlingException``. Every request is kept in ``requests``.
    """

    def __init__(self, responses: dict[str, Any]) -> None:
        self.responses = responses
        self.throttle: dict[tuple[str, str], int] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def answer(self, region: str, path: str, body: dict[str, Any]) -> tuple[int, dict, dict]:
        with self.lock:
            self.requests.append((region, path, body))
            if self.throttle.get((region, path), 0) > 0:
                self.throttle[(region, path)] -= 1
                return _error(429, "ThrottlingException", "Rate exceeded")
        data = self.responses["regions"].get(region)
        if data is None:
            return _error(403, "AccessDeniedException", f"Inspector2 is not offered in {region}")
        if path == "/status/batch/get":
            return 200, {}, data["status"]
        if path == "/findings/list":
            if body.get("filterCriteria") != self.responses["filter_required"]:
                return _error(400, "ValidationException", "unexpected filterCriteria")
            if not 1 <= int(body.get("maxResults", 100)) <= 100:
                return _error(400, "ValidationException", "maxResults must be 1-100")
            page = data["findings"].get(body.get("nextToken") or "")
            if page is None:
                return _error(400, "ValidationException", "invalid nextToken")
            if "error" in page:
                return _error(page["status"], page["error"], page["message"])
            return 200, {}, page
        return _error(404, "ResourceNotFoundException", path)

    def hits(self, region: str, path: str) -> int:
        return sum(1 for r, p, _ in self.requests if (r, p) == (region, path))


def _error(status: int, code: str, message: str) -> tuple[int, dict, dict]:
    return status, {"x-amzn-ErrorType": code}, {"message": message}


@pytest.fixture
def inspector(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[InspectorServer]:
    """The fixture Inspector2 on 127.0.0.1; moto serves STS and EC2."""
    state = InspectorServer(json.loads((FIXTURES / "responses.json").read_text()))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            match = _REGION_RE.search(self.headers.get("Authorization", ""))
            region = match.group(1) if match else "?"
            status, headers, payload = state.answer(region, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_INSPECTOR2", f"http://127.0.0.1:{server.server_port}")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _run(regions: list[str], **kwargs: Any) -> Any:
    return run_collector(InspectorFindingsCollector, {"regions": regions}, now=NOW, **kwargs)


def test_collector_is_conformant_and_probed() -> None:
    assert lint_collector(InspectorFindingsCollector) == []
    service, _, _, action = PROBES["aws_inspector_findings"]
    assert service == "inspector2" and action in InspectorFindingsCollector.permissions


def test_open_findings_over_pages_with_a_throttled_first_call(inspector: InspectorServer) -> None:
    inspector.throttle[("eu-west-1", "/findings/list")] = 1
    result = _run(["eu-west-1", "us-east-1"])
    # two pages in eu-west-1 (plus the throttled try), one in us-east-1
    assert inspector.hits("eu-west-1", "/findings/list") == 3
    tokens = [b.get("nextToken") for r, p, b in inspector.requests
              if (r, p) == ("eu-west-1", "/findings/list")]  # fmt: skip
    assert tokens == [None, None, "euw1-page-2"]
    assert result.api_calls == sorted(
        {"sts:GetCallerIdentity", "inspector2:BatchGetAccountStatus", "inspector2:ListFindings"}
    )
    euw1 = "eu-west-1"
    critical = ARN.format(euw1, "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f")
    high = ARN.format(euw1, "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d")
    medium = ARN.format(euw1, "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e")
    info = ARN.format(euw1, "3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f")
    low = ARN.format("us-east-1", "4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a")
    assert [row["arn"] for row in result.rows] == sorted([critical, high, medium, info, low])
    row = next(r for r in result.rows if r["arn"] == critical)
    assert row["severity"] == "CRITICAL" and row["vulnerability_id"] == "CVE-2026-0001"
    assert row["resource_type"] == "AWS_EC2_INSTANCE"
    assert row["resource_id"] == "i-0abc1234def567890"
    assert row["first_observed_at"] == "2026-11-20T08:00:00.000000Z"
    assert row["fix_available"] == "YES" and row["status"] == "ACTIVE"
    assert row["packages"] == [{"name": "openssl", "version": "3.0.1", "fixed_in": "3.0.15"}]
    assert result.statuses(DEADLINE) == {
        critical: Status.FAIL,  # 11 days open, 7 allowed
        high: Status.PASS,  # 16 of 30 days
        medium: Status.FAIL,  # 122 of 90 days
        low: Status.PASS,  # 154 of 180 days
    }  # informational: no deadline
    failing = result.finding(DEADLINE, critical)
    assert failing.severity is Severity.CRITICAL  # the finding's own severity, for the register
    assert "deadline of 7 days (2026-11-27 08:00 UTC) by 4 days" in failing.message
    assert result.finding(DEADLINE, low).severity is Severity.LOW
    assert "2026-12-27" in result.finding(DEADLINE, low).message


def test_thresholds_override_the_register_deadlines(inspector: InspectorServer) -> None:
    result = _run(["eu-west-1"], thresholds={DEADLINE: {"critical_days": 14, "high_days": 10}})
    critical = ARN.format("eu-west-1", "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f")
    high = ARN.format("eu-west-1", "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d")
    assert result.statuses(DEADLINE)[critical] == Status.PASS
    assert result.statuses(DEADLINE)[high] == Status.FAIL
    assert result.finding(DEADLINE, high).thresholds["high_days"] == 10


def test_register_settings_are_the_default(inspector: InspectorServer, monkeypatch) -> None:
    monkeypatch.setenv("PIXAUDIT_EXCEPTION_DAYS_CRITICAL", "14")
    result = _run(["eu-west-1"])
    critical = ARN.format("eu-west-1", "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f")
    assert result.statuses(DEADLINE)[critical] == Status.PASS


def test_a_region_without_inspector_is_an_error_not_a_pass(inspector: InspectorServer) -> None:
    result = _run(["us-east-1", "us-west-2", "ap-southeast-2"])
    assert result.statuses(DEADLINE) == {
        ARN.format("us-east-1", "4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a"): Status.PASS,
        SCANNING.format("us-west-2"): Status.ERROR,
        SCANNING.format("ap-southeast-2"): Status.ERROR,
    }
    disabled = result.finding(DEADLINE, SCANNING.format("us-west-2")).message
    assert "Amazon Inspector is not enabled in us-west-2" in disabled and "DISABLED" in disabled
    assert inspector.hits("us-west-2", "/findings/list") == 0  # not asked: status said so
    denied = result.finding(DEADLINE, SCANNING.format("ap-southeast-2")).message
    assert "AccessDeniedException on inspector2:ListFindings in ap-southeast-2" in denied


def test_no_region_enabled_fails_the_run(inspector: InspectorServer) -> None:
    with pytest.raises(CollectorError) as info:
        _run(["us-west-2"])
    assert info.value.permanent
    assert "Amazon Inspector is not enabled in us-west-2" in info.value.message


def test_no_open_finding_passes_the_collection(inspector: InspectorServer) -> None:
    inspector.responses["regions"]["us-east-1"]["findings"][""] = {"findings": []}
    result = _run(["us-east-1"])
    assert result.rows == []
    assert result.statuses(DEADLINE) == {"*": Status.PASS}


def test_against_motos_inspector2(aws: None) -> None:
    """moto's inspector2 (account status, enable, a queued ListFindings answer) agrees."""
    import requests

    with pytest.raises(CollectorError, match="not enabled in us-east-1"):
        run_collector(InspectorFindingsCollector, {"regions": ["us-east-1"]}, now=NOW)
    boto3.client("inspector2", region_name="us-east-1").enable(
        accountIds=[ACCOUNT], resourceTypes=["EC2"]
    )
    finding = json.loads((FIXTURES / "responses.json").read_text())["regions"]["us-east-1"]
    queued = {"results": [finding["findings"][""]["findings"]], "region": "us-east-1"}
    url = "http://motoapi.amazonaws.com/moto-api/static/inspector2/findings-results"
    assert requests.post(url, json=queued, timeout=5).status_code == 201
    result = run_collector(InspectorFindingsCollector, {"regions": ["us-east-1"]}, now=NOW)
    arn = ARN.format("us-east-1", "4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a")
    assert result.statuses(DEADLINE) == {arn: Status.PASS}
    assert result.rows[0]["fix_available"] == "PARTIAL"
