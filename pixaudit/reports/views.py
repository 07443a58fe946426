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
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pixaudit.accounts.permissions import action_required, can
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Framework
from pixaudit.reports import services, services_packs, signing
from pixaudit.reports.forms import AwsScopeFields
from pixaudit.reports.models import PackAudience, PackBuild, Report, ReportStatus
from pixaudit.reports.periods import EngagementUnavailable, engagement_scope
from pixaudit.reports.rendering import report_html
from pixaudit.reports.selectors import (
    PinnedEvidenceMissing,
    period_default,
    report_evidence_pin_summary,
)


class ReportForm(AwsScopeFields):
    field_order = ["framework", "start", "end", "include_privacy_register"]
    framework = forms.ModelChoiceField(
        queryset=Framework.objects.order_by("key"), to_field_name="key", empty_label=None
    )
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    include_privacy_register = forms.BooleanField(
        required=False,
        label="Include the data-subject request register",
        help_text="Off: the register's evidence is left out of the report and its packs.",
    )

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
        scope = None
        if form.is_valid():
            try:
                scope = services.report_scope_resolve(
                    framework_key=form.cleaned_data["framework"].key,
                    start=form.cleaned_data["start"],
                    end=form.cleaned_data["end"],
                    include_privacy_register=form.cleaned_data["include_privacy_register"],
                    aws_account=form.cleaned_data["aws_account"],
                    aws_ou=form.cleaned_data["aws_ou"],
                )
            except services.ReportScopeError as exc:  # e.g. an unknown AWS account
                form.aws_scope_error(str(exc))
        if scope is not None:
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
    builds = PackBuild.objects.filter(report=report, audience=PackAudience.INTERNAL)
    context = {
        "report": report,
        "engagement_name": engagement_name,
        "pin": pin,
        "pack_builds": builds.select_related("requested_by")[:5],
    }
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


def pack_build_start(
    request: HttpRequest, *, report: Report, audience: str, viewer_label: str = ""
) -> tuple[PackBuild, bool]:
    """A page's "Build the evidence pack" (or "Build again", with ``retry_of``): queue a build
    and answer at once; shared with the engagement pages."""
    retry_of = request.POST.get("retry_of", "")
    failed = None
    if retry_of.isdigit():
        failed = PackBuild.objects.filter(
            pk=int(retry_of), report=report, audience=audience, status="failed"
        ).first()
    if failed is not None:
        return services_packs.pack_build_retry(build=failed, requested_by=request.user)
    return services_packs.pack_build_request(
        report=report, requested_by=request.user, audience=audience, viewer_label=viewer_label
    )


def pack_build_page(
    request: HttpRequest, build: PackBuild, *, urls: dict[str, str], back: tuple[str, str]
) -> HttpResponse:
    context = {
        "build": build,
        "report": build.report,
        "status_url": urls["status"],
        "download_url": urls["download"],
        "retry_url": urls["retry"],
        "back_url": back[0],
        "back_label": back[1],
        "retention_days": services_packs.pack_build_retention_days(),
    }
    return render(request, "reports/pack_build.html", context)


def pack_build_file_response(build: PackBuild) -> HttpResponse:
    """The stored ZIP of a succeeded build (the caller logged the download)."""
    fh = services_packs.pack_build_open(build=build)
    response = FileResponse(
        fh, as_attachment=True, filename=build.filename, content_type="application/zip"
    )
    response["X-Content-SHA256"] = build.sha256
    return response


def _internal_build(pk: int) -> PackBuild:
    return get_object_or_404(
        PackBuild.objects.select_related("report__framework", "requested_by"),
        pk=pk,
        audience=PackAudience.INTERNAL,
    )


def _internal_urls(build: PackBuild) -> dict[str, str]:
    return {
        "status": reverse("reports:pack_status", args=[build.pk]),
        "download": reverse("reports:pack_download", args=[build.pk]),
        "retry": reverse("reports:pack", args=[build.report_id]),
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


@require_POST
@action_required("packs.download")
def report_pack(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a build of the report's evidence pack (its pinned evidence and its stored PDF)
    and answer at once with the build's page, which follows the job."""
    report = _report(pk)
    if report.status != ReportStatus.SUCCEEDED:
        raise Http404("The report has not been rendered yet.")
    build, queued = pack_build_start(request, report=report, audience=PackAudience.INTERNAL)
    if queued:
        audit_log_record(action="pack.build_requested", obj=report, request=request,
                         **services.report_log_details(report, pack_build_id=build.pk))  # fmt: skip
    else:
        messages.info(request, "This evidence pack is already being built.")
    return redirect("reports:pack_detail", pk=build.pk)


@action_required("packs.download")
def pack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    build = _internal_build(pk)
    back = (reverse("reports:detail", args=[build.report_id]), f"Report #{build.report_id}")
    return pack_build_page(request, build, urls=_internal_urls(build), back=back)


@action_required("packs.download")
def pack_status(request: HttpRequest, pk: int) -> JsonResponse:
    build = _internal_build(pk)
    urls = _internal_urls(build)
    return JsonResponse(
        services_packs.pack_build_status_payload(
            build, download_url=urls["download"], retry_url=urls["retry"]
        )
    )


@require_GET
@action_required("packs.download")
def pack_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The stored ZIP of a finished build, logged as ``pack.downloaded``."""
    build = _internal_build(pk)
    try:
        response = pack_build_file_response(build)
    except services.PackUnavailable as exc:
        if build.active:
            raise Http404("The evidence pack is not built yet.") from None
        messages.error(request, f"The evidence pack cannot be downloaded: {exc}")
        return redirect("reports:pack_detail", pk=build.pk)
    details = services_packs.pack_build_log_details(build)
    audit_log_record(action="pack.downloaded", obj=build.report, request=request, **details)
    return response


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
