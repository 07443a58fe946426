"""Manual evidence pages: list (+ expiring soon, requirements), upload, detail, download."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.permissions import ACTIONS, can, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Control
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.manual import max_upload_bytes
from pixaudit.evidence.models import ManualEvidence, ManualRequirement
from pixaudit.evidence.selectors_manual import (
    EXPIRING_SOON_DAYS,
    manual_evidence_expiring,
    manual_evidence_list,
)
from pixaudit.evidence.services.manual import (
    ManualEvidenceError,
    manual_requirement_remove,
    manual_requirement_set,
)
from pixaudit.evidence.services.manual import manual_evidence_upload as upload_service
from pixaudit.evidence.storage import artifact_chunks, artifact_exists, artifact_sha256
from pixaudit.manualevidence.forms import ManualEvidenceForm, RequirementForm
from pixaudit.manualevidence.uploads import LimitedUploadHandler

VIEW = ACTIONS["manual_evidence.view"]
MANAGE = ACTIONS["manual_evidence.manage"]
#: Room for the form fields around the file in a multipart body.
_BODY_OVERHEAD = 64 * 1024


@role_required(VIEW)
def manual_list(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    context = {
        "items": manual_evidence_list().order_by("-uploaded_at")[:200],
        "expiring": manual_evidence_expiring(today=today),
        "soon_days": EXPIRING_SOON_DAYS,
        "requirements": ManualRequirement.objects.select_related("control__framework"),
        "requirement_form": RequirementForm(),
        "can_manage": can(request.user, "manual_evidence.manage"),
        "today": today,
    }
    return render(request, "manualevidence/list.html", context)


@csrf_exempt
@role_required(MANAGE)
def manual_upload(request: HttpRequest) -> HttpResponse:
    # The size limit is enforced while the body streams: the handler goes first, before
    # anything (CSRF included) reads request.POST; CSRF is then checked by _upload.
    limit = max_upload_bytes()
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=limit))
    return _upload(request, limit)


@csrf_protect
def _upload(request: HttpRequest, limit: int) -> HttpResponse:
    too_big = f"The file is larger than the {limit // (1024 * 1024) or 1} MB limit."
    if request.method == "POST":
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > limit + _BODY_OVERHEAD:
            return _render_upload(request, ManualEvidenceForm(), too_big, status=413)
        form = ManualEvidenceForm(request.POST, request.FILES)
        if getattr(request, "upload_too_large", False):
            return _render_upload(request, form, too_big, status=413)
        if form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                item = upload_service(
                    upload=upload, file_name=upload.name, title=data["title"],
                    effective_on=data["effective_on"], valid_until=data["valid_until"],
                    recurrence=data["recurrence"] or "", owner=data["owner"],
                    control_addresses=form.addresses(), user=request.user, kind=data["kind"],
                    description=data["description"],
                )  # fmt: skip
            except ManualEvidenceError as exc:
                for field, message in exc.errors.items():
                    form.add_error(
                        "controls" if field == "controls" else field if field in form.fields
                        else None, message,
                    )  # fmt: skip
            else:
                messages.success(
                    request, f"“{item.title}” stored and chained (#{item.evidence.seq})."
                )
                return redirect("manualevidence:detail", item.pk)
        return _render_upload(request, form, "", status=400)
    return _render_upload(request, ManualEvidenceForm(), "")


def _render_upload(request, form, error: str, status: int = 200) -> HttpResponse:
    context = {"form": form, "error": error, "limit_mb": max_upload_bytes() // (1024 * 1024)}
    return render(request, "manualevidence/upload.html", context, status=status)


@role_required(VIEW)
def manual_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(manual_evidence_list(), pk=pk)
    file_ok = (
        artifact_exists(item.file_path) and artifact_sha256(item.file_path) == item.file_sha256
    )
    context = {"item": item, "file_ok": file_ok, "today": timezone.now().date()}
    return render(request, "manualevidence/detail.html", context)


@require_GET
@role_required(VIEW)
def manual_download(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ManualEvidence.objects.select_related("evidence"), pk=pk)
    if not artifact_exists(item.file_path):
        raise Http404("The stored file is missing.")
    audit_log_record(action="manual_evidence.downloaded", obj=item, request=request,
                     file_name=item.file_name, sha256=item.file_sha256,
                     evidence_seq=item.evidence.seq)  # fmt: skip
    response = StreamingHttpResponse(
        artifact_chunks(item.file_path), content_type=item.content_type
    )
    response["Content-Disposition"] = content_disposition_header(True, item.file_name)
    response["Content-Security-Policy"] = "sandbox"
    return response


@require_POST
@role_required(MANAGE)
def requirement_add(request: HttpRequest) -> HttpResponse:
    form = RequirementForm(request.POST)
    if form.is_valid():
        try:
            control = control_get_by_address(form.cleaned_data["control"])
        except Control.DoesNotExist as exc:
            messages.error(request, str(exc))
        else:
            manual_requirement_set(
                control=control, reason=form.cleaned_data["reason"], user=request.user
            )
            messages.success(request, f"{control.address} now requires manual evidence.")
    else:
        messages.error(request, "Give a control address.")
    return redirect("manualevidence:list")


@require_POST
@role_required(MANAGE)
def requirement_remove(request: HttpRequest, pk: int) -> HttpResponse:
    requirement = get_object_or_404(ManualRequirement.objects.select_related("control"), pk=pk)
    manual_requirement_remove(control=requirement.control, user=request.user)
    messages.success(request, "Requirement removed.")
    return redirect("manualevidence:list")
