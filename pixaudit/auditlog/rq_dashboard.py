"""django-rq's queue dashboard (``/admin/rq/``) with its actions in the audit log.

The dashboard lets admins delete, requeue, enqueue and stop jobs and empty queues: state
changes like any other. Its URL patterns are django-rq's own, each view wrapped so that a
POST an admin makes is recorded as ``rq.<view>`` (queue index, job id, bulk action and job
ids), whatever the view then did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django_rq import urls as rq_urls

from pixaudit.auditlog.services import audit_log_record

__all__ = ["rq_audited", "rq_dashboard_urls"]


def rq_audited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a dashboard view: record every POST that an active staff user got through."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        user = request.user
        if request.method == "POST" and user.is_authenticated and user.is_active and (
            user.is_staff
        ) and response.status_code < 400:  # fmt: skip
            audit_log_record(
                action=f"rq.{view.__name__}"[:64], request=request,
                **{k: str(v) for k, v in kwargs.items()},
                bulk_action=request.POST.get("action", ""),
                job_ids=request.POST.getlist("job_ids")[:200],
            )  # fmt: skip
        return response

    wrapper.pixaudit_audited = True  # type: ignore[attr-defined]
    return wrapper


def rq_dashboard_urls():
    """``include()`` argument for ``admin/rq/``: django-rq's patterns, views audited."""
    patterns = rq_urls.get_api_urlpatterns() + rq_urls.get_admin_urlpatterns(
        view_wrapper=rq_audited
    )
    return patterns, rq_urls.app_name
