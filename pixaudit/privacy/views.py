"""Data-subject request pages: the register with its monthly metrics, create, edit,
mark complete, and the completion evidence's download. Managers and admins only."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET

from pixaudit.accounts.permissions import ACTIONS, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.manual import max_upload_bytes
from pixaudit.evidence.storage import artifact_chunks, artifact_exists
from pixaudit.manualevidence.uploads import LimitedUploadHandler
from pixaudit.privacy.forms import CompleteForm, FilterForm, RequestForm
from pixaudit.privacy.models import DataSubjectRequest, due_days_setting
from pixaudit.privacy.selectors import monthly_metrics, requests_filtered
from pixaudit.privacy.services import (
    PrivacyError,
    request_complete,
    request_create,
    request_update,
)

MANAGE = ACTIONS["privacy.manage"]
#: Room for the form fields around the file in a multipart body.
_BODY_OVERHEAD = 64 * 1024


def _errors_to_form(form, exc: PrivacyError) -> None:
    for field, message in exc.errors.items():
        form.add_error(field if field in form.fields else None, message)


@role_required(MANAGE)
def request_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    filters = FilterForm(request.GET or None)
    state = kind = ""
    if filters.is_valid():
        state, kind = filters.cleaned_data["state"], filters.cleaned_data["kind"]
    items = list(requests_filtered(state=state, kind=kind, today=today)[:500])
    for item in items:
        item.status = item.status_on(today)
    context = {"filters": filters, "items": items, "metrics": monthly_metrics(today=today),
               "due_days": due_days_setting(), "today": today}  # fmt: skip
    return render(request, "privacy/list.html", context)


@role_required(MANAGE)
def request_new(request: HttpRequest) -> HttpResponse:
    form = RequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = request_create(user=request.user, **form.cleaned_data)
        except PrivacyError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"{item.reference} recorded, due {item.due_on}.")
            return redirect("privacy:list")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "item": None, "due_days": due_days_setting()}
    return render(request, "privacy/form.html", context, status=status)


@role_required(MANAGE)
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(DataSubjectRequest, pk=pk)
    initial = {"reference": item.reference, "kind": item.kind, "received_on": item.received_on,
               "identity_verified_on": item.identity_verified_on, "notes": item.notes}  # fmt: skip
    form = RequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            request_update(request=item, user=request.user, **form.cleaned_data)
        except PrivacyError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"{item.reference} saved.")
            return redirect("privacy:list")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "item": item, "due_days": item.due_days}
    return render(request, "privacy/form.html", context, status=status)


@csrf_exempt
@role_required(MANAGE)
def request_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    # As for manual evidence: the size limit is enforced while the body streams (the
    # handler goes first, before anything, CSRF included, reads request.POST).
    limit = max_upload_bytes()
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=limit))
    return _complete(request, pk, limit)


@csrf_protect
def _complete(request: HttpRequest, pk: int, limit: int) -> HttpResponse:
    item = get_object_or_404(DataSubjectRequest, pk=pk)
    too_big = f"The file is larger than the {limit // (1024 * 1024) or 1} MB limit."
    if request.method != "POST":
        form = CompleteForm(initial={"completed_on": timezone.localdate()})
        return _render_complete(request, item, form, 200)
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit + _BODY_OVERHEAD:
        return _render_complete(request, item, CompleteForm(), 413, too_big)
    form = CompleteForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):
        form.is_valid()
        form.add_error("file", too_big)
        return _render_complete(request, item, form, 413)
    if form.is_valid():
        chosen = form.cleaned_data["file"]
        try:
            request_complete(request=item, completed_on=form.cleaned_data["completed_on"],
                             upload=chosen, file_name=getattr(chosen, "name", ""),
                             user=request.user)  # fmt: skip
        except PrivacyError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"{item.reference} marked complete.")
            return redirect("privacy:list")
    return _render_complete(request, item, form, 400)


def _render_complete(request, item, form, status: int, error: str = "") -> HttpResponse:
    context = {"item": item, "form": form, "error": error,
               "limit_mb": max_upload_bytes() // (1024 * 1024)}  # fmt: skip
    return render(request, "privacy/complete.html", context, status=status)


@require_GET
@role_required(MANAGE)
def evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(DataSubjectRequest, pk=pk)
    if not item.evidence_file_path or not artifact_exists(item.evidence_file_path):
        raise Http404("This request has no stored completion evidence.")
    audit_log_record(action="privacy.evidence_downloaded", obj=item, request=request,
                     file_name=item.evidence_file_name, sha256=item.evidence_sha256)  # fmt: skip
    response = StreamingHttpResponse(artifact_chunks(item.evidence_file_path),
                                     content_type=item.evidence_content_type)  # fmt: skip
    response["Content-Disposition"] = content_disposition_header(True, item.evidence_file_name)
    response["Content-Security-Policy"] = "sandbox"
    return response
