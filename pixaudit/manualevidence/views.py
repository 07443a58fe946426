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
from pixaudit.controls.selectors import control_choices, control_get_by_address
from pixaudit.evidence.manual import UploadRejected, max_upload_bytes
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
from pixaudit.evidence.services.manual_holding import (
    holding_owner,
    manual_upload_held,
    manual_upload_held_open,
    manual_upload_hold,
    manual_upload_release,
)
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
    if request.method != "POST":
        return _render_upload(request, _form(), None, "")
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit + _BODY_OVERHEAD:
        return _render_upload(request, _form(), None, too_big, status=413)
    owner = _holding_owner(request)
    held = manual_upload_held(owner=owner, token=request.POST.get("held", ""))
    form = _form(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):
        return _render_upload(request, form, held, too_big, status=413)
    chosen = request.FILES.get("file")
    if form.is_valid() and (chosen or held):
        item = _store(request, form, chosen, held)
        if item is not None:
            manual_upload_release(held=held)
            messages.success(request, f"“{item.title}” stored and chained (#{item.evidence.seq}).")
            return redirect("manualevidence:detail", item.pk)
    if chosen is not None and "file" not in form.errors:
        # The form comes back with an error; keep the (valid) file so it is not chosen again.
        try:
            kept = manual_upload_hold(upload=chosen, file_name=chosen.name, owner=owner)
        except UploadRejected as exc:
            form.add_error("file", str(exc))
        else:
            manual_upload_release(held=held)
            held = kept
    if chosen is None and held is None and "file" not in form.errors:
        form.add_error("file", "Choose the file to upload.")
    return _render_upload(request, form, held, "", status=400)


def _form(*args) -> ManualEvidenceForm:
    return ManualEvidenceForm(*args, control_choices=control_choices())


def _holding_owner(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return holding_owner(request.session.session_key)


def _store(request, form: ManualEvidenceForm, chosen, held):
    """Store the upload (the chosen file, else the kept one); None after a field error."""
    data = form.cleaned_data
    source = chosen if chosen is not None else manual_upload_held_open(held)
    try:
        return upload_service(
            upload=source, file_name=source.name, title=data["title"],
            effective_on=data["effective_on"], valid_until=data["valid_until"],
            recurrence=data["recurrence"] or "", owner=data["owner"],
            control_addresses=form.addresses(), user=request.user, kind=data["kind"],
            description=data["description"],
        )  # fmt: skip
    except ManualEvidenceError as exc:
        typed = bool((data.get("controls") or "").strip())
        for field, message in exc.errors.items():
            if field == "controls":
                field = "controls" if typed else "controls_picked"
            form.add_error(field if field in form.fields else None, message)
        return None
    finally:
        if source is not chosen:
            source.close()


def _render_upload(request, form, held, error: str, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "held": held,
        "error": error,
        "limit_mb": max_upload_bytes() // (1024 * 1024),
    }
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
