"""RFC 9457 problem details for every API error (``application/problem+json``).

Body: ``type`` (a URI naming the problem), ``title``, ``status``, ``detail`` and, for
validation errors, ``errors``: a list of ``{"field", "detail"}`` (push problems add
``row``). ``instance`` is the request path.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

__all__ = ["PROBLEM_CONTENT_TYPE", "ProblemException", "problem_exception_handler"]

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://pixaudit.dev/problems/"

_TITLES = {
    400: ("invalid-request", "The request is not valid"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    410: ("gone", "Gone"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "The content cannot be stored"),
    429: ("rate-limited", "Too many requests"),
}


class ProblemException(exceptions.APIException):
    """An error with an explicit status, detail and optional ``errors`` list."""

    def __init__(self, status_code: int, detail: str, errors: list[dict] | None = None):
        self.status_code = status_code
        self.errors = errors
        super().__init__(detail)


def _flatten(data: Any, prefix: str = "") -> list[dict[str, Any]]:
    if isinstance(data, dict):
        out = []
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, "" if key == "non_field_errors" else name))
        return out
    if isinstance(data, list):
        if all(not isinstance(v, dict | list) for v in data):
            return [{"field": prefix or None, "detail": str(v)} for v in data]
        out = []
        for index, value in enumerate(data):
            out.extend(_flatten(value, f"{prefix}[{index}]"))
        return out
    return [{"field": prefix or None, "detail": str(data)}]


def problem_response(
    status_code: int, detail: str, *, errors: list[dict] | None = None,
    instance: str | None = None, headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """A problem-details response."""
    slug, title = _TITLES.get(status_code, ("error", "Error"))
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status_code,
                            "detail": detail}  # fmt: skip
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, reshaped into problem details."""
    if isinstance(exc, DjangoValidationError):
        data = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(data)
    response = exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    instance = request.path if request is not None else None
    kept = ("Retry-After", "WWW-Authenticate", "Allow")
    headers = {k: v for k, v in response.headers.items() if k in kept}
    errors = getattr(exc, "errors", None)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        detail = (
            "; ".join(
                f"{e['field']}: {e['detail']}" if e["field"] else e["detail"] for e in errors[:5]
            )
            or "The request is not valid."
        )
    elif isinstance(exc, Http404 | exceptions.NotFound):
        detail = str(getattr(exc, "detail", "") or "") or "Not found."
    elif isinstance(exc, PermissionDenied):
        detail = str(exc) or "Not allowed."
    else:
        detail = str(getattr(exc, "detail", exc))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        detail = f"{detail.rstrip('.')}. Retry after {int(exc.wait + 0.999)} second(s)."
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    return problem_response(
        response.status_code or status.HTTP_400_BAD_REQUEST, detail, errors=errors,
        instance=instance, headers=headers,
    )  # fmt: skip
