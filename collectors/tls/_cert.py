"""Certificate facts for ``tls_endpoints``: parse a DER leaf with ``cryptography``, match names."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

__all__ = ["certificate_facts", "hostname_matches"]


def _key_facts(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, None


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = [str(name) for name in ext.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return dns, ips


def certificate_facts(der: bytes, *, expected_name: str, now: datetime) -> dict[str, Any]:
    """Row columns describing the leaf certificate ``der`` (as seen at ``now``)."""
    cert = x509.load_der_x509_certificate(der)
    key_type, key_bits = _key_facts(cert)
    dns, ips = _sans(cert)
    not_after = cert.not_valid_after_utc
    hash_alg = cert.signature_hash_algorithm
    return {
        "cert_subject": cert.subject.rfc4514_string(),
        "cert_issuer": cert.issuer.rfc4514_string(),
        "cert_sans": sorted(f"DNS:{d}" for d in dns) + sorted(f"IP:{i}" for i in ips),
        "cert_key_type": key_type,
        "cert_key_bits": key_bits,
        "cert_signature_hash": hash_alg.name if hash_alg is not None else None,
        "cert_serial": format(cert.serial_number, "x"),
        "cert_sha256": hashlib.sha256(der).hexdigest(),
        "cert_not_before": cert.not_valid_before_utc,
        "cert_not_after": not_after,
        "cert_days_remaining": (not_after - now).days,
        "cert_self_signed": cert.issuer == cert.subject,
        "hostname_match": hostname_matches(expected_name, dns, ips),
    }


def hostname_matches(name: str, dns_names: list[str], ip_names: list[str]) -> bool:
    """RFC 6125 matching against the SANs only (the subject CN is ignored, as browsers do).

    A wildcard matches exactly one left-most label (``*.example.com`` matches
    ``www.example.com``, not ``example.com`` nor ``a.b.example.com``); IP addresses match
    IP SANs only.
    """
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in ip_names)
    wanted = name.lower().rstrip(".")
    for pattern in dns_names:
        pattern = pattern.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and wanted.endswith(pattern[1:]):
            label = wanted[: -len(pattern) + 1]
            if label and "." not in label:
                return True
    return False
