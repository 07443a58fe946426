"""Exceptions register pages: internal users read and export it, ask for risk acceptance;
managers set owners and notes and approve acceptances; auditors read and export their
engagement's register (scoped by ``pixaudit.audits.selectors``: window and frameworks)."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.permissions import (
    ENGAGEMENT_READERS,
    MANAGERS,
    action_required,
    role_required,
)
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits import selectors as audit_selectors
from pixaudit.audits.models import Engagement
from pixaudit.controls.models import Framework
from pixaudit.exceptions import selectors, services
from pixaudit.exceptions.exports import export_csv_chunks, export_xlsx
from pixaudit.exceptions.forms import (
    AcceptanceDecisionForm,
    AcceptanceRequestForm,
    FilterForm,
    UpdateForm,
)
from pixaudit.exceptions.gaps import ControlGap, control_gaps
from pixaudit.exceptions.models import ExceptionAcceptance, ExceptionRecord

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILTER_NAMES = ("status", "severity", "control", "past_deadline", "since", "until", "framework")
#: Without a date range, gaps are shown for the last 90 days; at most two years are judged.
GAP_DEFAULT_DAYS = 90
GAP_MAX_DAYS = 731


def _query(request: HttpRequest) -> str:
    return urlencode({k: request.GET[k] for k in _FILTER_NAMES if request.GET.get(k)})


def _exception(pk: int) -> ExceptionRecord:
    try:
        return selectors.exception_get(pk=pk)
    except ExceptionRecord.DoesNotExist:
        raise Http404("No such exception") from None


def _engagement(request: HttpRequest, pk: int) -> Engagement:
    try:
        return audit_selectors.engagement_get_for_user(user=request.user, pk=pk)
    except Engagement.DoesNotExist:
        raise Http404("No such engagement") from None


def _gaps(filters, frameworks: list[Framework], start: date, end: date) -> list[ControlGap]:
    """Control gaps of ``frameworks`` over ``start``..``end`` under the register's filters
    (control, status open/closed; none when only accepted exceptions are asked for)."""
    if filters.status == "accepted" or filters.severity or filters.past_deadline or end < start:
        return []
    gaps = []
    for framework in frameworks:
        if filters.control is not None and filters.control.framework_id != framework.pk:
            continue
        gaps += control_gaps(framework=framework, start=start, end=end)
    if filters.control is not None:
        gaps = [g for g in gaps if g.control.pk == filters.control.pk]
    if filters.status:
        gaps = [g for g in gaps if g.open == (filters.status == "open")]
    return gaps


def _internal_gap_scope(request: HttpRequest, filters) -> tuple[list[Framework], date, date]:
    today = timezone.now().date()
    end = min(filters.until or today, today)
    start = filters.since or end - timedelta(days=GAP_DEFAULT_DAYS - 1)
    start = max(start, end - timedelta(days=GAP_MAX_DAYS - 1))
    key = (request.GET.get("framework") or "").strip()
    frameworks = list(Framework.objects.order_by("key"))
    if key:
        frameworks = [f for f in frameworks if f.key == key]
    elif filters.control is not None:
        frameworks = [f for f in frameworks if f.pk == filters.control.framework_id]
    else:
        frameworks = frameworks[:1]
    return frameworks, start, end


def _register_context(request: HttpRequest, filters, errors, *, engagement=False) -> dict:
    qs = selectors.exception_list(filters=filters)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.exception_rows(page.object_list)
    return {
        "form": FilterForm(request.GET or None, engagement=engagement),
        "filter_errors": errors,
        "page": page,
        "query": _query(request),
        "deadline_days": selectors.deadline_days(),
    }


@require_GET
@action_required("exceptions.view")
def register(request: HttpRequest) -> HttpResponse:
    filters, errors = selectors.filters_from_query(request.GET)
    context = _register_context(request, filters, errors)
    frameworks, start, end = _internal_gap_scope(request, filters)
    context.update({"gaps": _gaps(filters, frameworks, start, end), "gap_start": start,
                    "gap_end": end, "gap_frameworks": frameworks})  # fmt: skip
    return render(request, "exceptions/register.html", context)


def _export_response(qs, fmt: str, name: str, gaps=()) -> HttpResponse:
    """The filtered register ``qs`` as a file. Both formats read it in chunks
    (``exception_rows_stream``, a query per 2,000 rows, none per row); the CSV is streamed
    as it is written, the XLSX is built in openpyxl's write-only mode (rows go to a temporary
    file, not held in memory) and sent when complete."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    rows = selectors.exception_rows_stream(qs)
    if fmt == "csv":
        response = StreamingHttpResponse(
            export_csv_chunks(rows), content_type="text/csv; charset=utf-8"
        )
        filename = f"{name}-{stamp}.csv"
    else:
        response = HttpResponse(export_xlsx(rows, gaps=gaps), content_type=XLSX)
        filename = f"{name}-{stamp}.xlsx"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _filters_logged(request: HttpRequest) -> dict[str, str]:
    return {k: request.GET[k][:100] for k in _FILTER_NAMES if request.GET.get(k)}


@require_GET
@action_required("exceptions.view")
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "xlsx"):
        raise Http404("Export as csv or xlsx")
    filters, _ = selectors.filters_from_query(request.GET)
    qs = selectors.exception_list(filters=filters)
    gaps = _gaps(filters, *_internal_gap_scope(request, filters)) if fmt == "xlsx" else []
    audit_log_record(action="exceptions.exported", request=request, format=fmt,
                     rows=qs.count(), gaps=len(gaps),
                     filters=_filters_logged(request))  # fmt: skip
    return _export_response(qs, fmt, "pixaudit-exceptions", gaps)


@require_GET
@action_required("exceptions.view")
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = _exception(pk)
    (row,) = selectors.exception_rows([record])
    context = {
        "row": row,
        "record": record,
        "acceptances": selectors.acceptance_history(exception=record),
        "update_form": UpdateForm(initial={"owner": record.owner_id, "note": record.note}),
        "request_form": AcceptanceRequestForm(),
        "decision_form": AcceptanceDecisionForm(),
    }
    return render(request, "exceptions/detail.html", context)


def _form_errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


@require_POST
@action_required("exceptions.manage")
def update(request: HttpRequest, pk: int) -> HttpResponse:
    record = _exception(pk)
    form = UpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an owner from the list (or the default).")
        return redirect("exceptions:detail", pk=record.pk)
    try:
        services.exception_update(exception=record, owner=form.cleaned_data["owner"],
                                  note=form.cleaned_data["note"], actor=request.user,
                                  request=request)  # fmt: skip
    except ValidationError as exc:
        _form_errors(request, exc)
    else:
        messages.success(request, "Owner and note saved.")
    return redirect("exceptions:detail", pk=record.pk)


@require_POST
@action_required("exceptions.request_acceptance")
def acceptance_request(request: HttpRequest, pk: int) -> HttpResponse:
    record = _exception(pk)
    form = AcceptanceRequestForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            messages.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))
        return redirect("exceptions:detail", pk=record.pk)
    try:
        services.acceptance_request(exception=record, reason=form.cleaned_data["reason"],
                                    expires_on=form.cleaned_data["expires_on"],
                                    actor=request.user, request=request)  # fmt: skip
    except ValidationError as exc:
        _form_errors(request, exc)
    else:
        messages.success(request, "Risk acceptance requested: a manager or admin must approve it.")
    return redirect("exceptions:detail", pk=record.pk)


def _acceptance(pk: int) -> ExceptionAcceptance:
    return get_object_or_404(ExceptionAcceptance.objects.select_related("exception"), pk=pk)


@require_POST
@action_required("exceptions.manage")
def acceptance_decide(request: HttpRequest, pk: int) -> HttpResponse:
    acceptance = _acceptance(pk)
    form = AcceptanceDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("exceptions:detail", pk=acceptance.exception_id)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        services.acceptance_decide(acceptance=acceptance, approve=approve,
                                   note=form.cleaned_data["note"], actor=request.user,
                                   request=request)  # fmt: skip
    except ValidationError as exc:
        _form_errors(request, exc)
    else:
        messages.success(request, "Acceptance approved." if approve else "Acceptance rejected.")
    return redirect("exceptions:detail", pk=acceptance.exception_id)


@require_POST
@action_required("exceptions.manage")
def acceptance_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    acceptance = _acceptance(pk)
    try:
        services.acceptance_revoke(acceptance=acceptance, actor=request.user, request=request)
    except ValidationError as exc:
        _form_errors(request, exc)
    else:
        messages.success(request, "Acceptance revoked: the exception is monitored again.")
    return redirect("exceptions:detail", pk=acceptance.exception_id)


# --- The auditor's view: one engagement's window -------------------------------------------


def _engagement_filters(request: HttpRequest, engagement: Engagement):
    filters, errors = selectors.filters_from_query(request.GET)
    filters.frameworks = list(engagement.frameworks.all())
    start, end = engagement.window_start, engagement.window_end
    filters.since = max(filters.since or start, start)
    filters.until = min(filters.until or end, end)
    return filters, errors


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_register(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    filters, errors = _engagement_filters(request, engagement)
    context = _register_context(request, filters, errors, engagement=True)
    start, end = filters.since, min(filters.until, timezone.now().date())
    context["gaps"] = _gaps(filters, list(engagement.frameworks.all()), start, end)
    context.update({"gap_start": start, "gap_end": end})
    since, until = audit_selectors.engagement_window(engagement=engagement)
    context.update({"engagement": engagement, "window_since": since, "window_until": until,
                    "is_manager": request.user.role in MANAGERS})  # fmt: skip
    return render(request, "exceptions/engagement_register.html", context)


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    engagement = _engagement(request, pk)
    if fmt not in ("csv", "xlsx"):
        raise Http404("Export as csv or xlsx")
    filters, _ = _engagement_filters(request, engagement)
    qs = selectors.exception_list(filters=filters)
    end = min(filters.until, timezone.now().date())
    frameworks = list(engagement.frameworks.all())
    gaps = _gaps(filters, frameworks, filters.since, end) if fmt == "xlsx" else []
    audit_log_record(action="exceptions.exported", request=request, format=fmt,
                     rows=qs.count(), gaps=len(gaps), engagement_id=engagement.pk,
                     filters=_filters_logged(request))  # fmt: skip
    name = f"pixaudit-exceptions-engagement-{engagement.pk}"
    return _export_response(qs, fmt, name, gaps)
