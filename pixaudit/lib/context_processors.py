"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def pixaudit(request: HttpRequest) -> dict:
    return {
        "PIXAUDIT_VERSION": settings.PIXAUDIT_VERSION,
        "PIXAUDIT_ORG_NAME": settings.PIXAUDIT_ORG_NAME,
        "PIXAUDIT_OIDC_ENABLED": getattr(settings, "PIXAUDIT_OIDC_ENABLED", False),
        "PIXAUDIT_OIDC_PROVIDER_NAME": getattr(settings, "PIXAUDIT_OIDC_PROVIDER_NAME", ""),
    }
