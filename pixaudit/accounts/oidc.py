"""Single sign-on with OpenID Connect (mozilla-django-oidc), configured from the environment.

Off unless ``OIDC_RP_CLIENT_ID`` is set (see ``settings.py`` and the README). The provider's
endpoints come from ``OIDC_OP_DISCOVERY_URL`` (read once, on first use) or from explicit
``OIDC_OP_*_ENDPOINT`` variables. On top of mozilla-django-oidc:

- **Identity.** A user is found by the token's issuer and subject (``ExternalIdentity``),
  never by a name alone; an existing local account is linked by e-mail only when the
  provider says the address is verified. The ID token's ``iss`` and ``aud`` are checked
  (mozilla-django-oidc checks the signature, expiry and nonce, not the audience).
- **Role** from a claim (``OIDC_ROLE_CLAIM``, a string or a list such as ``groups``) through
  ``OIDC_ROLE_MAP`` (``value=role`` pairs, first match in the map's order wins), at every
  sign-in: the provider is the source of truth, and a change is audited. No mapping and no
  ``OIDC_DEFAULT_ROLE``: sign-in is refused with a message. Auditors are never made by SSO
  (their access is per engagement).
- **MFA.** Admins and compliance managers still need MFA: the provider's is accepted when
  the token's ``amr`` claim names a second factor (``OIDC_MFA_AMR``); otherwise they verify
  their pixaudit TOTP like a local sign-in. Local accounts keep signing in with a password.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from pixaudit.accounts.mfa import SSO_MFA_SESSION_KEY
from pixaudit.accounts.models import ExternalIdentity, Role, User
from pixaudit.auditlog.services import audit_log_record

logger = logging.getLogger("pixaudit.accounts.oidc")


_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_ISSUER": "issuer",
}
_discovery: dict[str, dict] = {}
_discovery_lock = threading.Lock()


def oidc_enabled() -> bool:
    """True when single sign-on is configured (``OIDC_RP_CLIENT_ID`` set)."""
    return bool(getattr(settings, "PIXAUDIT_OIDC_ENABLED", False))


def _secure_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    )


def _discovery_document() -> dict:
    url = getattr(settings, "OIDC_OP_DISCOVERY_URL", "") or ""
    if not url:
        return {}
    with _discovery_lock:
        if url not in _discovery:
            if not _secure_url(url):
                raise ImproperlyConfigured("OIDC_OP_DISCOVERY_URL must be an https:// URL")
            response = requests.get(url, timeout=10)
            response.raise_for_status()
            _discovery[url] = response.json()
        return _discovery[url]


def oidc_setting(attr: str, *args: Any) -> Any:
    """A setting, with the provider's endpoints filled in from discovery when not given."""
    value = getattr(settings, attr, None)
    if value in (None, "") and attr in _DISCOVERED:
        value = _discovery_document().get(_DISCOVERED[attr]) or None
    if value in (None, ""):
        if args:
            return args[0]
        return import_from_settings(attr)  # raises ImproperlyConfigured, naming it
    return value


def oidc_role_for(claims: dict) -> str | None:
    """The pixaudit role the claims map to, or None (sign-in refused)."""
    claim = settings.PIXAUDIT_OIDC_ROLE_CLAIM
    raw = claims.get(claim)
    values = [raw] if isinstance(raw, str) else list(raw or [])
    for value, role in settings.PIXAUDIT_OIDC_ROLE_MAP:
        if value in values:
            return role
    return settings.PIXAUDIT_OIDC_DEFAULT_ROLE or None


class PixauditOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with issuer/subject identities and role mapping."""

    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request, **kwargs):
        if not oidc_enabled():
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        issuer = oidc_setting("OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("ID token from another issuer")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client")
        # Kept for the identity (the userinfo answer carries no issuer) and for MFA.
        self.request._pixaudit_oidc_token = payload
        return payload

    def _refuse(self, reason: str) -> None:
        self.request._pixaudit_oidc_refusal = reason
        raise SuspiciousOperation(reason)

    def verify_claims(self, claims):
        token = getattr(self.request, "_pixaudit_oidc_token", {})
        if not claims.get("sub") or claims.get("sub") != token.get("sub"):
            self._refuse("the provider's user information does not match the sign-in")
        role = oidc_role_for({**token, **claims})
        if role is None:
            self._refuse(
                f"your account has no pixaudit role: ask for one of "
                f"{', '.join(v for v, _ in settings.PIXAUDIT_OIDC_ROLE_MAP) or 'the mapped'} "
                f"in the provider's “{settings.PIXAUDIT_OIDC_ROLE_CLAIM}” claim"
            )
        if role not in (Role.ADMIN, Role.COMPLIANCE_MANAGER, Role.ENGINEER):
            self._refuse("single sign-on gives internal roles only")
        return True

    def filter_users_by_claims(self, claims):
        token = self.request._pixaudit_oidc_token
        identity = (
            ExternalIdentity.objects.select_related("user")
            .filter(issuer=token.get("iss", ""), subject=claims["sub"])
            .first()
        )
        if identity is not None:
            return [identity.user]
        email = (claims.get("email") or "").strip()
        if email and claims.get("email_verified") is True:
            users = list(User.objects.filter(email__iexact=email).exclude(role=Role.AUDITOR))
            if len(users) == 1 and not users[0].external_identities.exists():
                return users
        return []

    @transaction.atomic
    def create_user(self, claims):
        token = self.request._pixaudit_oidc_token
        role = oidc_role_for({**token, **claims})
        base = (claims.get("preferred_username") or claims.get("email") or claims["sub"])[:140]
        username, n = base, 1
        while User.objects.filter(username__iexact=username).exists():
            n += 1
            username = f"{base}-{n}"
        user = User(username=username, email=(claims.get("email") or "").lower(), role=role)
        user.is_staff = user.is_superuser = role == Role.ADMIN
        user.first_name = (claims.get("given_name") or "")[:150]
        user.last_name = (claims.get("family_name") or "")[:150]
        user.set_unusable_password()
        user.save()
        self._identity_link(user, token)
        audit_log_record(actor=user, action="user.created", obj=user, request=self.request,
                         role=role, via="oidc", issuer=token.get("iss", ""))  # fmt: skip
        return user

    @transaction.atomic
    def update_user(self, user, claims):
        token = self.request._pixaudit_oidc_token
        if not user.is_active:
            self._refuse("your pixaudit account is deactivated")
        self._identity_link(user, token)
        role = oidc_role_for({**token, **claims})
        if user.role != role and user.role != Role.AUDITOR:
            previous = user.role
            user.role = role
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.save(update_fields=["role", "is_staff", "is_superuser"])
            audit_log_record(actor=user, action="user.role_changed", obj=user,
                             request=self.request, previous=previous, role=role,
                             via="oidc")  # fmt: skip
        return user

    @staticmethod
    def _identity_link(user: User, token: dict) -> None:
        ExternalIdentity.objects.get_or_create(
            issuer=token.get("iss", ""), subject=token["sub"], defaults={"user": user}
        )


def _sso_mfa(token: dict) -> bool:
    amr = token.get("amr") or []
    amr = [amr] if isinstance(amr, str) else amr
    return any(method in settings.PIXAUDIT_OIDC_MFA_AMR for method in amr)


class PixauditOIDCRequestView(OIDCAuthenticationRequestView):
    """Start the sign-in at the provider (404 while single sign-on is off)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        super().__init__(*args, **kwargs)


class PixauditOIDCCallbackView(OIDCAuthenticationCallbackView):
    """Back from the provider: sign in, or return to the sign-in page saying why not."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        return super().get(request)

    @property
    def failure_url(self) -> str:
        return reverse("accounts:login")

    def login_failure(self):
        reason = getattr(self.request, "_pixaudit_oidc_refusal", "")
        error = self.request.GET.get("error_description") or self.request.GET.get("error")
        text = reason or (f"the provider answered: {error}" if error else "it could not be checked")
        messages.error(self.request, f"Single sign-on did not sign you in: {text}.")
        audit_log_record(action="auth.login_failed", request=self.request, via="oidc",
                         reason=text[:300])  # fmt: skip
        return super().login_failure()

    def login_success(self):
        response = super().login_success()
        token = getattr(self.request, "_pixaudit_oidc_token", {})
        self.request.session[SSO_MFA_SESSION_KEY] = _sso_mfa(token)
        return response


def oidc_login(request: HttpRequest) -> HttpResponse:
    """``accounts:oidc_login``: redirect to the provider."""
    return PixauditOIDCRequestView.as_view()(request)


def oidc_callback(request: HttpRequest) -> HttpResponse:
    """``accounts:oidc_callback``: the provider's redirect back (the code flow)."""
    return PixauditOIDCCallbackView.as_view()(request)
