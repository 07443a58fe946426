"""TLS endpoints: protocol versions, ciphers, certificate and HSTS of ``host:port`` targets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.tls._cert import certificate_facts
from collectors.tls._endpoint import Endpoint, parse_endpoint
from collectors.tls._probe import (
    VERSIONS,
    EndpointUnreachable,
    Probe,
    fetch_http_head,
    probe_version,
    verify_chain,
)

_TRANSIT = ("soc2-2017:CC6.7", "iso27001-2022:A.8.24")
_MAX_AGE_RE = re.compile(r"max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_LEGACY = ("TLSv1.0", "TLSv1.1")
_CERT_COLUMNS = (
    Column("cert_subject", "string", "Leaf certificate subject (RFC 4514)."),
    Column("cert_issuer", "string", "Leaf certificate issuer (RFC 4514)."),
    Column("cert_sans", "json", "Subject alternative names, e.g. ['DNS:example.com']."),
    Column("cert_key_type", "string", "Public key type: RSA, EC <curve>, Ed25519, ..."),
    Column("cert_key_bits", "integer", "Public key size in bits."),
    Column("cert_signature_hash", "string", "Hash of the certificate signature, e.g. sha256."),
    Column("cert_serial", "string", "Serial number (hex)."),
    Column("cert_sha256", "string", "SHA-256 fingerprint of the leaf certificate (DER)."),
    Column("cert_not_before", "datetime", "Start of the certificate's validity (UTC)."),
    Column("cert_not_after", "datetime", "End of the certificate's validity (UTC)."),
    Column("cert_days_remaining", "integer", "Whole days of validity left at collection."),
    Column("cert_self_signed", "boolean", "Issuer equals subject."),
    Column("chain_valid", "boolean", "Chain verifies against the CA bundle (null: not run)."),
    Column("chain_error", "string", "Why the chain did not verify, or could not be checked."),
    Column("hostname_match", "boolean", "A SAN matches the SNI name (or host)."),
)


@register
class TlsEndpointsCollector(Collector):
    """TLS configuration of network endpoints, observed with real handshakes (stdlib ``ssl``).

    For each target of ``endpoints`` (``host:port``, ``host:port@sni`` to connect to one
    address but send and match another name, ``[::1]:443`` for IPv6, and a ``tls://``
    prefix for non-HTTP services such as SMTPS, for which HSTS is not applicable) it offers
    TLS 1.0, 1.1, 1.2 and 1.3 one at a time, each on its own connection, and records which
    were accepted and the cipher negotiated. From the newest accepted version it takes the
    leaf certificate (subject, issuer, SANs, key type and size, validity), verifies the chain
    in a second handshake against ``ca_bundle`` or the system store, matches the hostname
    against the SANs, and for HTTPS sends ``GET /`` to read Strict-Transport-Security.

    A version this client cannot offer (OpenSSL builds without TLS 1.0) is recorded as
    ``client_unsupported`` and never counted as disabled. A refused connection, a timeout, an
    unknown host or a plaintext port is an ERROR for that endpoint; the others are still
    collected. No API permission is needed: only outbound TCP to the targets.

    Example row: ``www.example.com:443`` accepts TLSv1.2 and TLSv1.3 (TLS_AES_256_GCM_SHA384),
    refuses TLSv1.0/1.1, certificate ``CN=www.example.com`` from ``CN=R3,O=Let's Encrypt``,
    EC prime256v1 256 bits, 63 days left, chain valid, hostname matches,
    HSTS ``max-age=31536000; includeSubDomains``.
    """

    key = "tls_endpoints"
    title = "TLS endpoints (protocols, certificates, HSTS)"
    version = 1
    params = (
        Param(
            "endpoints",
            "list",
            required=True,
            help="Targets: host:port, host:port@sni, [v6addr]:port; prefix tls:// for non-HTTP.",
            destination=True,
        ),
        Param("ca_bundle", "string", help="PEM file of trusted CAs (default: the system store)."),
        Param("timeout", "float", default=10.0, help="Seconds per connection attempt."),
    )
    permissions = ()
    columns = (
        Column("endpoint", "string", "The target as configured (normalised)."),
        Column("scheme", "string", "https (HSTS checked) or tls (raw TLS service)."),
        Column("host", "string", "Host or IP address connected to."),
        Column("port", "integer", "TCP port."),
        Column("server_name", "string", "SNI name sent (null for a bare IP address)."),
        Column("reachable", "boolean", "A TLS handshake completed at some version."),
        Column("error", "string", "Why the endpoint could not be assessed, if it could not."),
        Column("protocols", "json", "Per version: status, negotiated cipher, detail."),
        Column("accepted_versions", "json", "Protocol versions observed to be accepted."),
        Column("best_version", "string", "Newest accepted version."),
        Column("best_cipher", "string", "Cipher negotiated at the newest accepted version."),
        *_CERT_COLUMNS,
        Column("http_status", "integer", "HTTP status of GET / (https targets)."),
        Column("hsts", "string", "Strict-Transport-Security header value, if any."),
        Column("hsts_max_age", "integer", "max-age of the HSTS header, in seconds."),
        Column("http_error", "string", "Why no HTTP answer was read, if none was."),
    )
    resource_column = "endpoint"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Probe every endpoint; rows are sorted by endpoint."""
        endpoints, problems = [], []
        for text in ctx.params["endpoints"]:
            try:
                endpoints.append(parse_endpoint(text))
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise CollectorError("invalid endpoints: " + "; ".join(problems), permanent=True)
        ctx.identity = "tls:anonymous-client"
        unique = {e.label: e for e in endpoints}
        rows = []
        for index, label in enumerate(sorted(unique)):
            ctx.check_budget()
            rows.append(self._endpoint_row(ctx, unique[label]))
            ctx.progress(index + 1, len(unique), label)
        return rows

    def _endpoint_row(self, ctx: CollectionContext, endpoint: Endpoint) -> dict[str, Any]:
        timeout = float(ctx.params["timeout"])
        row: dict[str, Any] = {
            "endpoint": endpoint.label,
            "scheme": endpoint.scheme,
            "host": endpoint.host,
            "port": endpoint.port,
            "server_name": endpoint.server_name,
            "reachable": False,
        }
        ctx.record_call("tls:Handshake")
        try:
            probes = [probe_version(endpoint, *v[:2], timeout) for v in VERSIONS]
        except EndpointUnreachable as exc:
            return self._fail(ctx, row, exc.reason)
        row["protocols"] = {p.version: p.as_json() for p in probes}
        accepted = [p for p in probes if p.status == "accepted"]
        row["accepted_versions"] = [p.version for p in accepted]
        if not accepted:
            return self._fail(ctx, row, _no_handshake_reason(probes))
        best = accepted[-1]
        version_name = dict((v[0], v[1]) for v in VERSIONS)[best.version]
        row.update(reachable=True, best_version=best.version)
        row["best_cipher"] = best.handshake.cipher if best.handshake else None
        if best.handshake and best.handshake.leaf_der:
            row.update(
                certificate_facts(
                    best.handshake.leaf_der, expected_name=endpoint.expected_name, now=ctx.now()
                )
            )
        ctx.record_call("tls:VerifyChain")
        row["chain_valid"], row["chain_error"] = verify_chain(
            endpoint, version_name, ctx.params.get("ca_bundle"), timeout
        )
        if endpoint.scheme == "https":
            ctx.record_call("https:GET /")
            status, headers, http_error = fetch_http_head(endpoint, version_name, timeout)
            hsts = headers.get("strict-transport-security")
            match = _MAX_AGE_RE.search(hsts or "")
            row.update(
                http_status=status,
                hsts=hsts,
                hsts_max_age=int(match.group(1)) if match else None,
                http_error=http_error,
            )
        return row

    @staticmethod
    def _fail(ctx: CollectionContext, row: dict[str, Any], reason: str) -> dict[str, Any]:
        ctx.error(f"{row['endpoint']}: {reason}", action="tls:Handshake", resource=row["endpoint"])
        row["error"] = reason
        return row

    @assertion(
        "tls_endpoints.tls13_supported",
        title="Endpoints accept TLS 1.3",
        severity=Severity.MEDIUM,
        remediation="Enable TLS 1.3 on the server or load balancer (OpenSSL 1.1.1+).",
        controls=(*_TRANSIT, "iso27001-2022:A.5.14"),
        rationale="Data in transit is protected with current cryptography (CC6.7, A.8.24) "
        "when information is transferred over the network (A.5.14).",
    )
    def tls13_supported(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when a TLS 1.3 handshake was observed; ERROR when it could not be tried."""
        probe = (row["protocols"] or {}).get("TLSv1.3")
        if probe is None:
            return _not_assessed(row)
        if probe["status"] == "accepted":
            return Outcome(Status.PASS, f"{row['endpoint']} accepts TLS 1.3 ({probe['cipher']}).")
        if probe["status"] == "rejected":
            return Outcome(Status.FAIL, f"{row['endpoint']} does not accept TLS 1.3.")
        return Outcome(Status.ERROR, f"TLS 1.3 not assessed on {row['endpoint']}: "
                       f"{probe['detail'] or probe['status']}.")  # fmt: skip

    @assertion(
        "tls_endpoints.legacy_protocols_disabled",
        title="Endpoints refuse TLS 1.0 and 1.1",
        severity=Severity.HIGH,
        remediation="Set the minimum protocol version to TLS 1.2 on the server or load balancer.",
        controls=(*_TRANSIT, "iso27001-2022:A.8.20"),
        rationale="Deprecated protocols (RFC 8996) weaken the protection of data in transit "
        "(CC6.7, A.8.24) and of the network services exposed (A.8.20).",
    )
    def legacy_protocols_disabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """FAIL if TLS 1.0 or 1.1 was accepted; PASS only when both refusals were observed."""
        protocols = row["protocols"] or {}
        if not protocols:
            return _not_assessed(row)
        accepted = [v for v in _LEGACY if protocols[v]["status"] == "accepted"]
        if accepted:
            return Outcome(Status.FAIL, f"{row['endpoint']} accepts {', '.join(accepted)}.")
        unknown = [v for v in _LEGACY if protocols[v]["status"] != "rejected"]
        if unknown:
            detail = "; ".join(protocols[v]["detail"] or protocols[v]["status"] for v in unknown)
            return Outcome(Status.ERROR, f"{', '.join(unknown)} not assessed on "
                           f"{row['endpoint']}: {detail}.")  # fmt: skip
        return Outcome(Status.PASS, f"{row['endpoint']} refuses TLS 1.0 and TLS 1.1.")

    @assertion(
        "tls_endpoints.certificate_valid",
        title="Endpoint certificates are trusted and match the host name",
        severity=Severity.HIGH,
        remediation="Install a certificate from a trusted CA that covers the host name, "
        "together with its intermediate certificates.",
        controls=(*_TRANSIT, "iso27001-2022:A.8.20"),
        rationale="A trusted, matching certificate authenticates the endpoint so data in "
        "transit reaches the intended party (CC6.7, A.8.24, A.8.20).",
    )
    def certificate_valid(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """PASS when the chain verifies and a SAN matches; ERROR when verification failed to run."""
        if not row["reachable"]:
            return _not_assessed(row)
        problems = []
        if row["chain_valid"] is None:
            return Outcome(Status.ERROR, f"Chain of {row['endpoint']} not verified: "
                           f"{row['chain_error']}.")  # fmt: skip
        if row["hostname_match"] is None:
            return Outcome(Status.ERROR, f"Certificate of {row['endpoint']} was not read.")
        if not row["chain_valid"]:
            problems.append(f"chain does not verify ({row['chain_error']})")
        if not row["hostname_match"]:
            name = row["server_name"] or row["host"]
            problems.append(f"no SAN matches {name} (SANs: {', '.join(row['cert_sans'] or [])})")
        if problems:
            return Outcome(Status.FAIL, f"Certificate of {row['endpoint']}: {'; '.join(problems)}.")
        return Outcome(Status.PASS, f"Certificate of {row['endpoint']} is trusted and matches.")

    @assertion(
        "tls_endpoints.certificate_expiry",
        title="Endpoint certificates are not about to expire",
        severity=Severity.HIGH,
        remediation="Renew the certificate (automate renewal, e.g. ACME) and deploy it.",
        controls=_TRANSIT,
        rationale="Certificate lifecycle management is part of key management (A.8.24); an "
        "expired certificate breaks protection of data in transit (CC6.7).",
        params=(Param("min_days", "integer", default=21, help="Minimum days of validity left."),),
    )
    def certificate_expiry(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """FAIL when fewer than ``min_days`` days of validity are left (or already expired)."""
        days = row["cert_days_remaining"]
        if days is None:
            return _not_assessed(row)
        limit, end = params["min_days"], row["cert_not_after"]
        if days < 0:
            return Outcome(Status.FAIL, f"Certificate of {row['endpoint']} expired on {end}.")
        if days < limit:
            return Outcome(Status.FAIL, f"Certificate of {row['endpoint']} expires in {days} "
                           f"days ({end}); at least {limit} required.")  # fmt: skip
        return Outcome(Status.PASS, f"Certificate of {row['endpoint']} is valid for {days} days.")

    @assertion(
        "tls_endpoints.hsts",
        title="HTTPS endpoints send Strict-Transport-Security",
        severity=Severity.MEDIUM,
        remediation="Send 'Strict-Transport-Security: max-age=31536000; includeSubDomains' on "
        "every HTTPS response.",
        controls=(*_TRANSIT, "iso27001-2022:A.8.26"),
        rationale="HSTS stops browsers from downgrading to plaintext HTTP (CC6.7, A.8.24) and "
        "is a standard web application security requirement (A.8.26).",
        params=(
            Param("min_max_age", "integer", default=15768000, help="Minimum max-age (seconds)."),
        ),
    )
    def hsts(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """HTTPS targets only; ERROR when no HTTP answer could be read (HSTS unknown)."""
        if row["scheme"] != "https":
            return None
        if not row["reachable"]:
            return _not_assessed(row)
        if row["http_status"] is None:
            return Outcome(Status.ERROR, f"No HTTP answer from {row['endpoint']} "
                           f"({row['http_error']}); HSTS could not be observed.")  # fmt: skip
        if not row["hsts"]:
            return Outcome(Status.FAIL, f"{row['endpoint']} sends no Strict-Transport-Security.")
        max_age, limit = row["hsts_max_age"], params["min_max_age"]
        if max_age is None or max_age < limit:
            return Outcome(Status.FAIL, f"HSTS max-age of {row['endpoint']} is {max_age} "
                           f"(at least {limit} required).")  # fmt: skip
        return Outcome(Status.PASS, f"{row['endpoint']} sends HSTS ({row['hsts']}).")


def _not_assessed(row: dict[str, Any]) -> Outcome:
    reason = row.get("error") or "no handshake data"
    return Outcome(Status.ERROR, f"{row['endpoint']} could not be assessed: {reason}.")


def _no_handshake_reason(probes: list[Probe]) -> str:
    statuses = {p.status for p in probes}
    if "not_tls" in statuses:
        return "not a TLS service (plaintext port?): " + next(
            p.detail for p in probes if p.status == "not_tls"
        )
    if statuses <= {"timeout", "client_unsupported"}:
        return "timed out during the TLS handshake"
    details = "; ".join(f"{p.version}: {p.detail or p.status}" for p in probes)
    return f"no TLS version accepted ({details})"
