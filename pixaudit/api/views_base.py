"""The base of every API view: token context for the audit log, throttles before roles."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView

from pixaudit.auditlog.context import acting_token

__all__ = [
    "ApiList",
    "ApiMixin",
    "ApiRetrieve",
    "ApiView",
    "query_datetime",
    "query_int",
    "query_str",
]


class ApiMixin:
    """Sets the acting token for the audit log around the whole request and checks the rate
    limits right after authentication (before roles, so refusals count too)."""

    access: dict[str, tuple[str, str]] = {}

    def dispatch(self, request, *args, **kwargs):
        with acting_token(None):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        self.perform_authentication(request)
        self.check_throttles(request)
        self.check_permissions(request)


class ApiView(ApiMixin, GenericAPIView):
    """The base of every API endpoint (``access`` maps a method to ``(scope, action)``)."""


class ApiList(ApiMixin, ListAPIView):
    """A cursor-paginated list endpoint (newest first)."""


class ApiRetrieve(ApiMixin, RetrieveAPIView):
    """A single-object endpoint (``pk`` in the path)."""


def query_str(request, name: str, *, max_length: int = 500) -> str | None:
    """A query parameter as a string, or ``None``; 400 when too long or not printable."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length or "\x00" in value:
        raise exceptions.ValidationError({name: f"At most {max_length} characters, no NUL."})
    return value


def query_int(request, name: str) -> int | None:
    value = query_str(request, name, max_length=20)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise exceptions.ValidationError({name: "A whole number."}) from None
    if not 0 < number < 2**63:
        raise exceptions.ValidationError({name: "A positive whole number."})
    return number


def query_datetime(request, name: str) -> datetime | None:
    """A UTC ISO 8601 time (``2026-03-01T00:00:00Z``); a time without a zone is UTC."""
    value = query_str(request, name, max_length=40)
    if value is None:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise exceptions.ValidationError(
            {name: "A time in ISO 8601, UTC, e.g. 2026-03-01T00:00:00Z."}
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def query_date(request, name: str) -> date | None:
    """A day in ISO 8601 (``2026-03-01``)."""
    value = query_str(request, name, max_length=10)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise exceptions.ValidationError({name: "A day in ISO 8601, e.g. 2026-03-01."}) from None


class QueryReader:
    """Reads several query parameters and reports every bad one at once (one 400)."""

    def __init__(self, request) -> None:
        self.request = request
        self.errors: dict[str, object] = {}

    def _read(self, parse, name: str, **kw):
        try:
            return parse(self.request, name, **kw)
        except exceptions.ValidationError as exc:
            self.errors.update(exc.detail)
            return None

    def str(self, name: str, **kw) -> str | None:
        return self._read(query_str, name, **kw)

    def int(self, name: str) -> int | None:
        return self._read(query_int, name)

    def datetime(self, name: str) -> datetime | None:
        return self._read(query_datetime, name)

    def date(self, name: str) -> date | None:
        return self._read(query_date, name)

    def error(self, name: str, message: str) -> None:
        self.errors[name] = [message]

    def done(self) -> None:
        """Raise one ``ValidationError`` naming every bad parameter read so far."""
        if self.errors:
            raise exceptions.ValidationError(self.errors)
