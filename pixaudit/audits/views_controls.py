"""The engagement by control, sample test results and the sample workbook.

Scoped like ``views``: every engagement id goes through ``engagement_get_for_user``, every
sample through the engagement's samples, so anything outside the auditor's engagement is a
404. Recording a result is the engagement's auditors' work (``samples.test``); the upload's
size limit is enforced while the body streams in, as for manual evidence.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.models import Role
from pixaudit.accounts.permissions import ACTIONS, ENGAGEMENT_READERS, can, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits import selectors, selectors_controls
from pixaudit.audits.forms import SampleResultForm
from pixaudit.audits.models import Sample, SampleResult
from pixaudit.audits.sample_results import sample_result_record
from pixaudit.audits.views import _engagement, form_errors_apply
from pixaudit.audits.workbooks import sample_workbook_bytes
from pixaudit.controls.models import Control
from pixaudit.evidence.manual import max_upload_bytes
from pixaudit.evidence.storage import artifact_chunks, artifact_exists
from pixaudit.manualevidence.uploads import LimitedUploadHandler
from pixaudit.reports.selectors_scope import engagement_samples, sample_item_label

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@role_required(ENGAGEMENT_READERS)
def control_list(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    context = {
        "engagement": engagement,
        "frameworks": selectors_controls.engagement_controls(engagement=engagement),
    }
    return render(request, "audits/control_list.html", context)


@role_required(ENGAGEMENT_READERS)
def control_detail(request: HttpRequest, pk: int, framework_key: str, ref: str) -> HttpResponse:
    engagement = _engagement(request, pk)
    try:
        workspace = selectors_controls.engagement_control_get(
            engagement=engagement, framework_key=framework_key, ref=ref
        )
    except Control.DoesNotExist:
        raise Http404("No such control in this engagement") from None
    context = {
        "engagement": engagement,
        "workspace": workspace,
        "control": workspace.section.control,
        "section": workspace.section,
        "can_test": request.user.role == Role.AUDITOR,
    }
    return render(request, "audits/control_detail.html", context)


def _sample(engagement, pk: int) -> Sample:
    try:
        return selectors.sample_get(engagement=engagement, pk=pk)
    except Sample.DoesNotExist:
        raise Http404("No such sample in this engagement") from None


def sample_page(request, engagement, sample, *, form=None, status: int = 200) -> HttpResponse:
    """The sample's page: drawn items with their results, the result form for auditors."""
    summary = next(
        s for s in engagement_samples(engagement_id=engagement.pk) if s.sample.pk == sample.pk
    )
    columns = sorted({k for item in sample.items for k in item} - {"index"})
    rows = [
        ([item.get(c) for c in columns], row)
        for item, row in zip(sample.items, summary.items, strict=True)
    ]
    if form is None and can(request.user, "samples.test"):
        form = SampleResultForm(items=[(r.position, r.label) for r in summary.items])
    context = {
        "engagement": engagement,
        "sample": sample,
        "summary": summary,
        "columns": columns,
        "rows": rows,
        "form": form,
        "history": sample.results.select_related("recorded_by").order_by("-recorded_at", "-id"),
        "limit_mb": max_upload_bytes() // (1024 * 1024),
    }
    return render(request, "audits/sample_detail.html", context, status=status)


@csrf_exempt
@require_POST
@role_required(ACTIONS["samples.test"])
def sample_result_create(request: HttpRequest, pk: int, sample_pk: int) -> HttpResponse:
    # The size limit is enforced while the body streams: the handler goes first, before
    # anything (CSRF included) reads request.POST; CSRF is then checked by _result_create.
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=max_upload_bytes()))
    return _result_create(request, pk, sample_pk)


@csrf_protect
def _result_create(request: HttpRequest, pk: int, sample_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    sample = _sample(engagement, sample_pk)
    items = [(p, sample_item_label(item)) for p, item in enumerate(sample.items, 1)]
    form = SampleResultForm(request.POST, request.FILES, items=items)
    if getattr(request, "upload_too_large", False):
        form.is_valid()
        form.add_error(
            "file",
            f"The file is larger than the {max_upload_bytes() // (1024 * 1024) or 1} MB limit.",
        )
        return sample_page(request, engagement, sample, form=form, status=413)
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        try:
            result = sample_result_record(
                sample=sample, position=form.cleaned_data["position"],
                outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"],
                actor=request.user, upload=upload, file_name=upload.name if upload else "",
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(
                request,
                f"Item {result.position} recorded as {result.get_outcome_display().lower()}.",
            )
            return redirect("audits:sample_detail", pk=engagement.pk, sample_pk=sample.pk)
    return sample_page(request, engagement, sample, form=form, status=400)


@require_GET
@role_required(ENGAGEMENT_READERS)
def sample_result_file(
    request: HttpRequest, pk: int, sample_pk: int, result_pk: int
) -> HttpResponse:
    engagement = _engagement(request, pk)
    sample = _sample(engagement, sample_pk)
    try:
        result = sample.results.get(pk=result_pk)
    except SampleResult.DoesNotExist:
        raise Http404("No such result") from None
    if not result.file_path or not artifact_exists(result.file_path):
        raise Http404("No stored file for this result.")
    audit_log_record(action="sample.result_file_downloaded", obj=result, request=request,
                     engagement_id=engagement.pk, sample_id=sample.pk,
                     sha256=result.file_sha256)  # fmt: skip
    response = StreamingHttpResponse(
        artifact_chunks(result.file_path), content_type=result.content_type
    )
    response["Content-Disposition"] = content_disposition_header(True, result.file_name)
    response["Content-Security-Policy"] = "sandbox"
    response["X-Content-SHA256"] = result.file_sha256
    return response


@require_GET
@role_required(ENGAGEMENT_READERS)
def sample_workbook(request: HttpRequest, pk: int, sample_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    sample = _sample(engagement, sample_pk)
    data = sample_workbook_bytes(engagement=engagement, sample=sample)
    audit_log_record(action="sample.workbook_downloaded", obj=sample, request=request,
                     engagement_id=engagement.pk, size=len(data))  # fmt: skip
    response = HttpResponse(data, content_type=XLSX)
    name = f"sample-{sample.pk}-{engagement.window_start}-{engagement.window_end}.xlsx"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
