"""A small OpenID Connect provider on 127.0.0.1 for the single sign-on tests.

It serves discovery, the authorization endpoint (no login page: it signs in whoever the
test put in ``provider.claims`` and redirects straight back), the token endpoint (client
secret, redirect URI and PKCE checked; ID tokens signed RS256 with a throwaway key), JWKS
and userinfo. Every request is recorded in ``provider.requests``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


#: The test client's credentials (the provider checks them at its token endpoint).
CLIENT_ID = "pixaudit-test"
CLIENT_SECRET = "test-client-secret-not-real"


def sso_settings_apply(settings: Any, provider: OIDCProvider) -> None:
    """Turn single sign-on on against ``provider`` (``settings``: pytest-django's fixture):
    roles from the ``groups`` claim (``pixaudit-admins``, ``compliance``, ``engineering``)."""
    settings.PIXAUDIT_OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
    settings.OIDC_OP_DISCOVERY_URL = provider.discovery_url
    settings.PIXAUDIT_OIDC_ROLE_CLAIM = "groups"
    settings.PIXAUDIT_OIDC_ROLE_MAP = [
        ("pixaudit-admins", "admin"),
        ("compliance", "compliance_manager"),
        ("engineering", "engineer"),
    ]
    settings.PIXAUDIT_OIDC_DEFAULT_ROLE = ""
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "pixaudit.accounts.oidc.PixauditOIDCBackend",
    ]


class OIDCProvider:
    """Start with ``with OIDCProvider(client_id, client_secret) as op:``; ``op.issuer``."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        #: The claims of whoever signs in next (``sub`` required).
        self.claims: dict[str, Any] = {}
        #: Overrides for the next ID token only (e.g. another ``aud``).
        self.token_overrides: dict[str, Any] = {}
        self.requests: list[str] = []
        self._codes: dict[str, dict] = {}
        self._access: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OIDCProvider:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": _b64(numbers.n), "e": _b64(numbers.e)}]}  # fmt: skip

    def id_token(self, claims: dict, nonce: str) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                "nonce": nonce, **claims, **self.token_overrides}  # fmt: skip
        self.token_overrides = {}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return None

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                provider.requests.append(f"GET {url.path}")
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, provider.discovery())
                if url.path == "/jwks":
                    return self._json(200, provider.jwks())
                if url.path == "/authorize":
                    if query.get("client_id") != provider.client_id:
                        return self._json(400, {"error": "unauthorized_client"})
                    code = secrets.token_urlsafe(16)
                    provider._codes[code] = {
                        "claims": dict(provider.claims), "nonce": query.get("nonce", ""),
                        "redirect_uri": query["redirect_uri"],
                        "challenge": query.get("code_challenge", ""),
                    }  # fmt: skip
                    target = (
                        query["redirect_uri"]
                        + "?"
                        + urlencode({"code": code, "state": query["state"]})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    claims = provider._access.get(token)
                    if claims is None:
                        return self._json(401, {"error": "invalid_token"})
                    return self._json(200, claims)
                return self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                provider.requests.append(f"POST {url.path}")
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if url.path != "/token":
                    return self._json(404, {"error": "not_found"})
                if (form.get("client_id"), form.get("client_secret")) != (
                    provider.client_id, provider.client_secret,
                ):  # fmt: skip
                    return self._json(401, {"error": "invalid_client"})
                grant = provider._codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self._json(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                if grant["challenge"] and digest.rstrip(b"=").decode() != grant["challenge"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                access = secrets.token_urlsafe(16)
                provider._access[access] = grant["claims"]
                return self._json(200, {
                    "access_token": access, "token_type": "Bearer", "expires_in": 300,
                    "id_token": provider.id_token(grant["claims"], grant["nonce"]),
                })  # fmt: skip

        return Handler
