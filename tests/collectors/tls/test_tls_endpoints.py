"""``tls_endpoints`` against real TLS servers on 127.0.0.1 with throwaway certificates."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collectors import CollectorError, Status
from collectors.lint import lint_collector
from collectors.testing import run_collector
from collectors.tls._cert import hostname_matches
from collectors.tls._endpoint import parse_endpoint
from collectors.tls.tls_endpoints import TlsEndpointsCollector
from pixaudit.demo.tls_sandbox import start_tls_endpoint

KEY = "tls_endpoints"
Server = Callable[..., tuple[str, str]]


@pytest.fixture
def tls_server() -> Iterator[Server]:
    """Start sandbox endpoints with the given options; all are stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(**options: object) -> tuple[str, str]:
        host_port, ca_path, stop = start_tls_endpoint(**options)  # type: ignore[arg-type]
        stops.append(stop)
        return host_port, ca_path

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def plaintext_port() -> Iterator[int]:
    """A TCP server that answers every connection with a plaintext HTTP 400."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join(timeout=5)
    server.close()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_collector_is_conformant() -> None:
    assert lint_collector(TlsEndpointsCollector) == []


def test_modern_endpoint_passes_everything(tls_server: Server) -> None:
    endpoint, ca = tls_server()
    result = run_collector(KEY, {"endpoints": [endpoint], "ca_bundle": ca})
    (row,) = result.rows
    assert row["accepted_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert row["protocols"]["TLSv1.0"]["status"] == "rejected"
    assert row["protocols"]["TLSv1.3"]["cipher"].startswith("TLS_")
    assert row["best_version"] == "TLSv1.3"
    assert row["cert_sans"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert row["cert_key_type"] == "EC secp256r1" and row["cert_key_bits"] == 256
    assert row["cert_issuer"].startswith("OU=Testing CA")
    assert row["chain_valid"] is True and row["hostname_match"] is True
    assert row["http_status"] == 200 and row["hsts_max_age"] == 31536000
    assert {f.assertion_id: f.status for f in result.findings} == {
        f"{KEY}.tls13_supported": Status.PASS,
        f"{KEY}.legacy_protocols_disabled": Status.PASS,
        f"{KEY}.certificate_valid": Status.PASS,
        f"{KEY}.certificate_expiry": Status.PASS,
        f"{KEY}.hsts": Status.PASS,
    }
    assert result.errors == []
    assert result.api_calls == ["https:GET /", "tls:Handshake", "tls:VerifyChain"]


def test_legacy_only_server_without_hsts(tls_server: Server) -> None:
    endpoint, ca = tls_server(
        min_version=ssl.TLSVersion.TLSv1,
        max_version=ssl.TLSVersion.TLSv1_2,
        hsts=None,
    )
    result = run_collector(KEY, {"endpoints": [f"{endpoint}@localhost"], "ca_bundle": ca})
    (row,) = result.rows
    resource = f"{endpoint}@localhost"
    assert row["endpoint"] == resource and row["server_name"] == "localhost"
    assert row["protocols"]["TLSv1.3"]["status"] == "rejected"
    legacy = result.finding(f"{KEY}.legacy_protocols_disabled", resource)
    if row["protocols"]["TLSv1.0"]["status"] == "client_unsupported":  # pragma: no cover
        # An OpenSSL build that cannot offer TLS 1.0 must not claim anything about it.
        assert legacy.status in (Status.FAIL, Status.ERROR)
    else:
        assert row["accepted_versions"] == ["TLSv1.0", "TLSv1.1", "TLSv1.2"]
        assert legacy.status is Status.FAIL
        assert "TLSv1.0, TLSv1.1" in legacy.message
    assert result.finding(f"{KEY}.tls13_supported", resource).status is Status.FAIL
    assert result.finding(f"{KEY}.hsts", resource).status is Status.FAIL
    assert result.finding(f"{KEY}.certificate_valid", resource).status is Status.PASS


def test_expired_certificate_for_the_wrong_name(tls_server: Server) -> None:
    endpoint, ca = tls_server(
        names=("other.example.test",),
        not_before=datetime(2020, 1, 1),
        not_after=datetime(2021, 1, 1),
    )
    result = run_collector(KEY, {"endpoints": [endpoint], "ca_bundle": ca})
    (row,) = result.rows
    assert row["chain_valid"] is False
    assert row["chain_error"] == "certificate has expired"
    assert row["hostname_match"] is False
    assert row["cert_not_after"] == "2021-01-01T00:00:00.000000Z"
    valid = result.finding(f"{KEY}.certificate_valid", endpoint)
    assert valid.status is Status.FAIL
    assert "certificate has expired" in valid.message and "DNS:other.example.test" in valid.message
    expiry = result.finding(f"{KEY}.certificate_expiry", endpoint)
    assert expiry.status is Status.FAIL and "expired on 2021-01-01" in expiry.message


def test_expiry_threshold_uses_the_collection_clock(tls_server: Server) -> None:
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    endpoint, ca = tls_server(not_after=not_after.replace(tzinfo=None))
    params = {"endpoints": [endpoint], "ca_bundle": ca}
    soon = run_collector(KEY, params, now=not_after - timedelta(days=10, hours=1))
    assert soon.rows[0]["cert_days_remaining"] == 10
    finding = soon.finding(f"{KEY}.certificate_expiry", endpoint)
    assert finding.status is Status.FAIL and "expires in 10 days" in finding.message
    assert finding.thresholds == {"min_days": 21}
    relaxed = run_collector(
        KEY,
        params,
        now=not_after - timedelta(days=10, hours=1),
        thresholds={f"{KEY}.certificate_expiry": {"min_days": 7}},
    )
    assert relaxed.finding(f"{KEY}.certificate_expiry", endpoint).status is Status.PASS


def test_untrusted_ca_fails_validity(tls_server: Server) -> None:
    endpoint, _ = tls_server()
    _, other_ca = tls_server()
    result = run_collector(KEY, {"endpoints": [endpoint], "ca_bundle": other_ca})
    finding = result.finding(f"{KEY}.certificate_valid", endpoint)
    assert finding.status is Status.FAIL
    assert "unable to get local issuer certificate" in finding.message


def test_unreachable_endpoints_are_errors_and_others_still_collected(
    tls_server: Server, plaintext_port: int
) -> None:
    good, ca = tls_server()
    refused = f"127.0.0.1:{_closed_port()}"
    plaintext = f"127.0.0.1:{plaintext_port}"
    silent = socket.create_server(("127.0.0.1", 0))  # accepts TCP, never answers TLS
    hanging = f"tls://127.0.0.1:{silent.getsockname()[1]}"
    try:
        result = run_collector(
            KEY,
            {"endpoints": [refused, plaintext, good, hanging], "ca_bundle": ca, "timeout": 0.5},
        )
    finally:
        silent.close()
    by_endpoint = {row["endpoint"]: row for row in result.rows}
    assert list(by_endpoint) == sorted(by_endpoint)
    assert by_endpoint[good]["reachable"] is True
    assert by_endpoint[refused]["error"] == "connection refused"
    assert by_endpoint[plaintext]["error"].startswith("not a TLS service (plaintext port?)")
    assert by_endpoint[hanging]["error"] == "timed out during the TLS handshake"
    for bad in (refused, plaintext, hanging):
        statuses = {f.status for f in result.findings if f.resource == bad}
        assert statuses == {Status.ERROR}, bad
    assert {e["resource"] for e in result.errors} == {refused, plaintext, hanging}
    assert result.finding(f"{KEY}.tls13_supported", good).status is Status.PASS
    # A raw TLS target gets no HSTS finding at all, not even a failed one.
    assert not [f for f in result.findings_for(f"{KEY}.hsts") if f.status is not Status.ERROR
                and f.resource == hanging]  # fmt: skip


def test_client_that_cannot_offer_a_version_never_claims_a_pass(
    tls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import collectors.tls._probe as probe

    endpoint, ca = tls_server()
    original = probe._probe_context

    def refusing(version_name: str) -> ssl.SSLContext:
        if version_name == "TLSv1":
            raise ValueError("protocol version not supported by this OpenSSL build")
        return original(version_name)

    monkeypatch.setattr(probe, "_probe_context", refusing)
    result = run_collector(KEY, {"endpoints": [endpoint], "ca_bundle": ca})
    assert result.rows[0]["protocols"]["TLSv1.0"]["status"] == "client_unsupported"
    finding = result.finding(f"{KEY}.legacy_protocols_disabled", endpoint)
    assert finding.status is Status.ERROR
    assert "TLSv1.0 not assessed" in finding.message


def test_invalid_endpoints_are_a_permanent_error() -> None:
    with pytest.raises(CollectorError, match="invalid port") as info:
        run_collector(KEY, {"endpoints": ["example.com:https"]})
    assert info.value.permanent


@pytest.mark.parametrize(
    ("text", "label", "server_name", "expected"),
    [
        ("Example.com", "example.com:443", "example.com", "example.com"),
        ("10.0.0.5:8443@api.example.com", "10.0.0.5:8443@api.example.com", "api.example.com",
         "api.example.com"),
        ("[::1]:443", "[::1]:443", None, "::1"),
        ("tls://mail.example.com:465", "tls://mail.example.com:465", "mail.example.com",
         "mail.example.com"),
        ("https://example.com:443", "example.com:443", "example.com", "example.com"),
    ],
)  # fmt: skip
def test_endpoint_syntax(text: str, label: str, server_name: str | None, expected: str) -> None:
    endpoint = parse_endpoint(text)
    assert (endpoint.label, endpoint.server_name, endpoint.expected_name) == (
        label,
        server_name,
        expected,
    )


def test_hostname_matching_rules() -> None:
    assert hostname_matches("www.example.com", ["*.example.com"], [])
    assert not hostname_matches("example.com", ["*.example.com"], [])
    assert not hostname_matches("a.b.example.com", ["*.example.com"], [])
    assert hostname_matches("127.0.0.1", [], ["127.0.0.1"])
    assert not hostname_matches("127.0.0.1", ["127.0.0.1"], [])


@pytest.fixture
def silent_https(tmp_path: object) -> Iterator[tuple[str, str]]:
    """A TLS server that completes handshakes and then closes without an HTTP answer."""
    import trustme

    ca = trustme.CA()
    ca_path = f"{tmp_path}/ca.pem"
    ca.cert_pem.write_to_path(ca_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(2)
                    tls.recv(1024)  # read the request, answer nothing
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", ca_path
    done.set()
    thread.join(timeout=5)
    server.close()


def test_no_http_answer_makes_hsts_an_error_not_a_warning(silent_https: tuple[str, str]) -> None:
    """Issue 12.9: HSTS that could not be observed is unknown: ERROR, never WARN or PASS."""
    host_port, ca_path = silent_https
    result = run_collector(
        TlsEndpointsCollector, {"endpoints": [host_port], "ca_bundle": ca_path, "timeout": 3}
    )
    row = result.rows[0]
    assert row["reachable"] is True and row["http_status"] is None and row["http_error"]
    finding = result.finding(f"{KEY}.hsts", row["endpoint"])
    assert finding.status is Status.ERROR and "could not be observed" in finding.message
    assert result.finding(f"{KEY}.certificate_valid", row["endpoint"]).status is Status.PASS


def test_an_unread_certificate_is_an_error() -> None:
    check = TlsEndpointsCollector.assertions_by_id[f"{KEY}.certificate_valid"].check
    row = {"endpoint": "x:443", "reachable": True, "chain_valid": True, "chain_error": None,
           "hostname_match": None, "server_name": None, "host": "x", "cert_sans": None}  # fmt: skip
    assert check(row, {}).status is Status.ERROR
