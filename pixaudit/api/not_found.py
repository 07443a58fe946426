"""The site's 404 handler: problem details under ``/api/v1/``, the branded page elsewhere.

DRF answers 404s raised inside API views itself; this covers paths no route matches, so an
API client never has to parse an HTML page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from pixaudit.api.problems import PROBLEM_CONTENT_TYPE, TYPE_BASE

API_PREFIX = "/api/v1/"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's ``handler404``."""
    if request.path.startswith(API_PREFIX):
        body = {
            "type": TYPE_BASE + "not-found",
            "title": "Not found",
            "status": 404,
            "detail": "No API endpoint at this path; the schema at /api/v1/schema/ lists them.",
            "instance": request.path,
        }
        return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
    return defaults.page_not_found(request, exception)
