"""Service-account access tokens for Google APIs: a JWT signed locally, exchanged over HTTPS.

Google's server-to-server OAuth 2.0 flow with domain-wide delegation: the service account's
private key signs a JWT (``iss`` the service account, ``sub`` the administrator it acts as,
``scope``, ``aud`` the token endpoint) with ``google-auth``'s RSA signer; the JWT is posted to
the token endpoint (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``) through
``ctx.http``, which retries throttling and refuses to send it anywhere but HTTPS (loopback
aside, in tests). The private key, the signed JWT and the access token are registered as
secrets of the collection, so no log line or error message can carry them.
"""

from __future__ import annotations

import json
from typing import Any

from collectors import CollectionContext, CollectorError

__all__ = ["JWT_BEARER", "load_service_account", "service_account_token"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_REQUIRED_KEYS = ("client_email", "private_key")


def load_service_account(ctx: CollectionContext, text: str) -> dict[str, Any]:
    """Parse a service account's JSON key and register its private parts as secrets.

    A key that is not JSON or lacks ``client_email``/``private_key`` is a permanent
    :class:`CollectorError` whose message never quotes the key.
    """
    try:
        info = json.loads(text)
    except ValueError:
        raise CollectorError(
            "service_account_key is not valid JSON: paste the whole key file of the service "
            "account (Google Cloud console, IAM, Service accounts, Keys, JSON)",
            permanent=True,
        ) from None
    if not isinstance(info, dict) or any(not info.get(k) for k in _REQUIRED_KEYS):
        raise CollectorError(
            "service_account_key must be a service account JSON key with client_email and "
            "private_key",
            permanent=True,
        )
    for name in ("private_key", "private_key_id"):
        if isinstance(info.get(name), str):
            ctx.add_secret(info[name])
    return info


def service_account_token(
    ctx: CollectionContext,
    info: dict[str, Any],
    *,
    token_uri: str,
    subject: str,
    scopes: tuple[str, ...],
) -> str:
    """Return an access token for ``subject`` with ``scopes`` (recorded as ``google:token``)."""
    from google.auth import crypt, jwt  # imported when collecting, never at import time

    try:
        signer = crypt.RSASigner.from_service_account_info(info)
    except (ValueError, TypeError):
        raise CollectorError(
            "the private_key of service_account_key cannot be read as an RSA key",
            permanent=True,
        ) from None
    issued = int(ctx.now().timestamp())
    payload = {
        "iss": info["client_email"],
        "sub": subject,
        "scope": " ".join(scopes),
        "aud": token_uri,
        "iat": issued,
        "exp": issued + 3600,
    }
    assertion = jwt.encode(signer, payload).decode("ascii")
    ctx.add_secret(assertion)
    ctx.record_call("google:token")
    response = ctx.http.post(
        token_uri,
        data={"grant_type": JWT_BEARER, "assertion": assertion},
        headers={"Accept": "application/json"},
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        detail = ": ".join(str(p) for p in (error, description) if p) or "no access token"
        hint = ""
        if error in ("unauthorized_client", "access_denied"):
            hint = (
                " (grant the service account's client id domain-wide delegation of these "
                f"scopes in the Admin console: {', '.join(scopes)})"
            )
        raise CollectorError(
            ctx.redact(f"Google token endpoint answered HTTP {response.status_code}: {detail}")
            + hint,
            permanent=response.status_code in (400, 401, 403),
            action="google:token",
        )
    token = str(body["access_token"])
    ctx.add_secret(token)
    return token
