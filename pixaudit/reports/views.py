"""Report pages: request a report, watch its job, download the PDF and the evidence pack,
preview it as HTML, and read the public key that signs packs. Thin: read, call, render.

Internal users only (``accounts.permissions.ACTIONS``): everyone internal views reports and
downloads PDFs, managers request reports and download evidence packs. Requests and downloads
are recorded in the audit log. Auditors use their engagement's pages instead. The one
anonymous view is :func:`signing_key_public`, the published public key.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from pixaudit.accounts.permissions import action_required, can
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Framework
from pixaudit.reports import services, signing
from pixaudit.reports.models import Report, ReportStatus
from pixaudit.reports.periods import EngagementUnavailable, engagement_scope
from pixaudit.reports.rendering import report_html
from pixaudit.reports.selectors import (
    PinnedEvidenceMissing,
    period_default,
    report_evidence_pin_summary,
)


class ReportForm(forms.Form):
    framework = forms.ModelChoiceField(
        queryset=Framework.objects.order_by("key"), to_field_name="key", empty_label=None
    )
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


def _report(pk: int) -> Report:
    return get_object_or_404(Report.objects.select_related("framework", "created_by"), pk=pk)


@action_required("reports.view")
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    can_create = can(request.user, "reports.create")
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied("reports.create")
        form = ReportForm(request.POST)
        if form.is_valid():
            scope = services.report_scope_resolve(
                framework_key=form.cleaned_data["framework"].key,
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
            )
            report = services.report_request(scope=scope, created_by=request.user)
            details = services.report_log_details(report)
            audit_log_record(action="report.requested", obj=report, request=request, **details)
            return redirect("reports:detail", pk=report.pk)
    else:
        default = period_default()
        form = ReportForm(initial={"start": default.start, "end": default.end})
    reports = Report.objects.select_related("framework", "created_by")[:50]
    context = {
        "form": form if can_create else None,
        "reports": reports,
        "frameworks": Framework.objects.order_by("key"),
    }
    return render(request, "reports/list.html", context)


@action_required("reports.view")
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(pk)
    engagement_name = ""
    if report.engagement_id is not None:
        try:
            engagement_name = engagement_scope(engagement_id=report.engagement_id)[2]
        except EngagementUnavailable:
            engagement_name = "(deleted engagement)"
    pin = report_evidence_pin_summary(report=report)
    context = {"report": report, "engagement_name": engagement_name, "pin": pin}
    return render(request, "reports/detail.html", context)


def status_payload(report: Report, *, user: Any = None) -> dict:
    done = report.status == ReportStatus.SUCCEEDED
    packs = done and can(user, "packs.download")
    return {
        "id": report.pk,
        "status": report.status,
        "status_label": report.get_status_display(),
        "active": report.active,
        "progress": report.progress,
        "progress_message": report.progress_message,
        "error_message": report.error_message,
        "sha256": report.sha256,
        "page_count": report.page_count,
        "size": report.size,
        "download_url": reverse("reports:download", args=[report.pk]) if done else "",
        "pack_url": reverse("reports:pack", args=[report.pk]) if packs else "",
    }


@action_required("reports.view")
def report_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(status_payload(_report(pk), user=request.user))


@action_required("reports.download")
def report_download(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(pk)
    if report.status != ReportStatus.SUCCEEDED:
        raise Http404("The report has not been rendered yet.")
    details = services.report_log_details(report, sha256=report.sha256)
    audit_log_record(action="report.downloaded", obj=report, request=request, **details)
    return FileResponse(
        default_storage.open(report.file_path, "rb"),
        as_attachment=True,
        filename=report.filename,
        content_type="application/pdf",
    )


@action_required("reports.view")
def report_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The same document as the PDF, in the browser: from the report's evidence pin once
    rendered, read afresh before."""
    report = _report(pk)
    try:
        data = services.report_data_for(report=report)
    except PinnedEvidenceMissing as exc:
        messages.error(request, f"The preview cannot be shown: {exc}")
        return redirect("reports:detail", pk=report.pk)
    html = report_html(data)
    audit_log_record(action="report.previewed", obj=report, request=request,
                     **services.report_log_details(report))  # fmt: skip
    return HttpResponse(html)


@action_required("packs.download")
def report_pack(request: HttpRequest, pk: int) -> HttpResponse:
    """The report's evidence pack (its pinned evidence and its stored PDF), built into a
    temporary file (memory stays flat), then streamed."""
    report = _report(pk)
    if report.status != ReportStatus.SUCCEEDED:
        raise Http404("The report has not been rendered yet.")
    try:
        pack = services.pack_build_tempfile(report=report)
    except services.PackUnavailable as exc:
        messages.error(request, f"The evidence pack cannot be built: {exc}")
        return redirect("reports:detail", pk=report.pk)
    details = services.report_log_details(
        report,
        sha256=pack.sha256,
        size=pack.size,
        manifest_sha256=pack.result.manifest_sha256,
        report_sha256=report.sha256,
    )
    audit_log_record(action="pack.downloaded", obj=report, request=request, **details)
    return FileResponse(
        pack.file, as_attachment=True, filename=pack.filename, content_type="application/zip"
    )


@action_required("signing_key.view")
def signing_key_page(request: HttpRequest) -> HttpResponse:
    context = {
        "pem": signing.public_key_pem().decode("ascii"),
        "fingerprint": signing.public_key_fingerprint(),
        "public_url": signing.public_key_url(),
    }
    return render(request, "reports/signing_key.html", context)


@action_required("signing_key.view")
def signing_key_pem(request: HttpRequest) -> HttpResponse:
    audit_log_record(action="signing_key.downloaded", request=request,
                     fingerprint=signing.public_key_fingerprint())  # fmt: skip
    response = HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="pixaudit-signing-key.pem"'
    return response


@require_GET
def signing_key_public(request: HttpRequest) -> HttpResponse:
    """The public key that signs evidence packs, for anyone (``verify_pack --key-url``).

    Anonymous on purpose: auditors pin this key to tell the organisation's packs from
    forged ones. Not audit-logged: the key is public, and logging anonymous requests would
    let anyone grow the append-only audit log.
    """
    response = HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="pixaudit-signing-key.pem"'
    response["Cache-Control"] = "public, max-age=300"
    return response
