"""Engagement pages: managers run engagements, auditors see only their own.

Every view that takes an engagement id reads it through ``engagement_get_for_user`` (and
objects under it through the scoped selectors), so another engagement's ids, evidence outside
the window and expired access all answer 404 alike.

Engagement reports: managers queue the engagement's report (period = the window) from the
engagement page; managers and the engagement's auditors download its latest succeeded PDF
and evidence pack here. Every PDF downloaded from an engagement page is stamped with the
viewer's name, e-mail and the time, managers' copies included, so any copy that leaves
through an engagement can be traced (internal users get the unstamped original from
``/reports/``). Each download is logged as ``engagement.download``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.models import Role
from pixaudit.accounts.permissions import ENGAGEMENT_READERS, MANAGERS, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits import selectors, services
from pixaudit.audits.forms import EngagementForm, EngagementReportForm, InvitationForm
from pixaudit.audits.models import AuditorInvitation, Engagement, InvitationEmail
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.storage import artifact_chunks
from pixaudit.reports import services as report_services
from pixaudit.reports import services_packs as report_services_packs
from pixaudit.reports import signing
from pixaudit.reports import views as report_views
from pixaudit.reports.models import PackAudience, PackBuild, Report
from pixaudit.reports.services import ReportScopeError


def _engagement(request: HttpRequest, pk: int) -> Engagement:
    try:
        return selectors.engagement_get_for_user(user=request.user, pk=pk)
    except Engagement.DoesNotExist:
        raise Http404("No such engagement") from None


def _evidence(engagement: Engagement, pk: int) -> EvidenceItem:
    try:
        return selectors.engagement_evidence_get(engagement=engagement, pk=pk)
    except EvidenceItem.DoesNotExist:
        raise Http404("No such evidence in this engagement") from None


def _report(engagement: Engagement, pk: int) -> Report:
    try:
        return selectors.engagement_report_get(engagement=engagement, pk=pk)
    except Report.DoesNotExist:
        raise Http404("No such report in this engagement") from None


def viewer_label(user) -> str:
    """Who downloaded, for the watermark: name (or username), e-mail, and the UTC time."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{user.get_full_name() or user.username} <{user.email}> {now}"


def form_errors_apply(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form's fields (or to the form)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@role_required(ENGAGEMENT_READERS)
def engagement_list(request: HttpRequest) -> HttpResponse:
    engagements = selectors.engagement_list_for_user(user=request.user)
    context = {"engagements": engagements, "is_auditor": request.user.role == Role.AUDITOR}
    return render(request, "audits/engagement_list.html", context)


@role_required(MANAGERS)
def engagement_create(request: HttpRequest) -> HttpResponse:
    form = EngagementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            engagement = services.engagement_create(created_by=request.user, request=request,
                                                    **form.cleaned_data)  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, f"Engagement “{engagement.name}” created.")
            return redirect("audits:engagement_detail", pk=engagement.pk)
    return render(request, "audits/engagement_form.html", {"form": form})


@role_required(MANAGERS)
def engagement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the engagement (name, frameworks, window, sharing of the DSR register)."""
    engagement = _engagement(request, pk)
    initial = {
        "name": engagement.name,
        "frameworks": list(engagement.frameworks.all()),
        "window_start": engagement.window_start,
        "window_end": engagement.window_end,
        "include_privacy_register": engagement.include_privacy_register,
    }
    form = EngagementForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.engagement_update(engagement=engagement, actor=request.user,
                                       request=request, **form.cleaned_data)  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, f"Engagement “{engagement.name}” saved.")
            return redirect("audits:engagement_detail", pk=engagement.pk)
    context = {"form": form, "engagement": engagement}
    return render(request, "audits/engagement_form.html", context)


@role_required(ENGAGEMENT_READERS)
def engagement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    since, until = selectors.engagement_window(engagement=engagement)
    evidence = selectors.engagement_evidence_list(engagement=engagement)
    context = {
        "engagement": engagement,
        "evidence_count": evidence.count(),
        "recent_evidence": evidence[:10],
        "requests": selectors.evidence_request_list(engagement=engagement)[:10],
        "samples": selectors.sample_list(engagement=engagement)[:10],
        "downloads": selectors.engagement_downloads(engagement=engagement, user=request.user),
        "pack_builds": _pack_builds_visible(request, engagement)[:5],
        "engagement_reports": selectors.engagement_reports_latest(engagement=engagement),
        "is_manager": request.user.role in MANAGERS,
        "signing_fingerprint": signing.public_key_fingerprint(),
        "signing_key_url": signing.public_key_url(),
    }
    if request.user.role in MANAGERS:
        context["invitations"] = selectors.engagement_invitations(engagement=engagement)
        context["report_form"] = EngagementReportForm(engagement=engagement)
    else:
        context["my_access"] = (
            selectors.invitations_active_for(user=request.user)
            .filter(engagement=engagement)
            .order_by("-expires_at")
            .first()
        )
    return render(request, "audits/engagement_detail.html", context)


@role_required(MANAGERS)
def invitation_create(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.auditor_invite(
                engagement=engagement, email=form.cleaned_data["email"],
                invited_by=request.user, expires_at=form.cleaned_data["expires_on"],
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            _email_outcome_message(request, invitation)
            return redirect("audits:engagement_detail", pk=engagement.pk)
    return render(request, "audits/invitation_form.html", {"form": form, "engagement": engagement})


def _email_outcome_message(request: HttpRequest, invitation: AuditorInvitation) -> None:
    """Say where the invitation e-mail is (with the embedded queue it has already run)."""
    invitation.refresh_from_db()
    if invitation.email_status == InvitationEmail.SENT:
        messages.success(request, f"Invitation e-mailed to {invitation.email}.")
    elif invitation.email_status == InvitationEmail.FAILED:
        messages.error(
            request,
            f"The invitation for {invitation.email} is saved, but its e-mail could not be "
            f"sent ({invitation.email_error}). Fix the mail settings, then send it again.",
        )
    else:
        messages.info(request, f"The invitation e-mail to {invitation.email} is queued.")


@require_POST
@role_required(MANAGERS)
def invitation_resend(request: HttpRequest, pk: int, invitation_pk: int) -> HttpResponse:
    """Send a pending invitation's e-mail again, with a new link (the old one stops working)."""
    engagement = _engagement(request, pk)
    try:
        invitation = engagement.invitations.get(pk=invitation_pk)
    except AuditorInvitation.DoesNotExist:
        raise Http404("No such invitation") from None
    try:
        services.auditor_invitation_resend(
            invitation=invitation, actor=request.user, request=request
        )
    except services.InvitationNotPending as exc:
        messages.error(request, str(exc))
    else:
        _email_outcome_message(request, invitation)
    return redirect("audits:engagement_detail", pk=engagement.pk)


@require_POST
@role_required(MANAGERS)
def invitation_revoke(request: HttpRequest, pk: int, invitation_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    try:
        invitation = engagement.invitations.get(pk=invitation_pk)
    except AuditorInvitation.DoesNotExist:
        raise Http404("No such invitation") from None
    services.auditor_invitation_revoke(invitation=invitation, actor=request.user, request=request)
    messages.success(request, f"Access for {invitation.email} revoked.")
    return redirect("audits:engagement_detail", pk=engagement.pk)


@role_required(ENGAGEMENT_READERS)
def evidence_list(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    collector_key = request.GET.get("collector", "").strip()[:100]
    items = selectors.engagement_evidence_list(engagement=engagement, collector_key=collector_key)
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    extra = urlencode({"collector": collector_key}) if collector_key else ""
    context = {"engagement": engagement, "page": page, "collector_key": collector_key,
               "extra": extra}  # fmt: skip
    return render(request, "audits/evidence_list.html", context)


@role_required(ENGAGEMENT_READERS)
def evidence_detail(request: HttpRequest, pk: int, evidence_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    item = _evidence(engagement, evidence_pk)
    findings = selectors.engagement_findings(engagement=engagement, evidence=item)
    page = Paginator(findings, 100).get_page(request.GET.get("page"))
    context = {"engagement": engagement, "item": item, "page": page}
    return render(request, "audits/evidence_detail.html", context)


@role_required(ENGAGEMENT_READERS)
def evidence_download(request: HttpRequest, pk: int, evidence_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    item = _evidence(engagement, evidence_pk)
    audit_log_record(action="evidence.downloaded", obj=item, request=request,
                     engagement_id=engagement.pk, sha256=item.sha256)  # fmt: skip
    filename = f"evidence-{item.seq}-{item.collector_key}-{item.sha256[:12]}.json"
    response = StreamingHttpResponse(
        artifact_chunks(item.artifact_path), content_type="application/json"
    )
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Content-Length"] = str(item.size)
    response["X-Content-SHA256"] = item.sha256
    return response


@require_POST
@role_required(MANAGERS)
def engagement_report_generate(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the engagement's report (period = the window) on the ``reports`` queue."""
    engagement = _engagement(request, pk)
    form = EngagementReportForm(request.POST, engagement=engagement)
    if not form.is_valid():
        messages.error(request, "Choose one of the engagement's frameworks.")
        return redirect("audits:engagement_detail", pk=engagement.pk)
    try:
        report, queued = services.engagement_report_request(
            engagement=engagement, framework=form.cleaned_data["framework"],
            actor=request.user, request=request,
            aws_account=form.cleaned_data["aws_account"], aws_ou=form.cleaned_data["aws_ou"],
        )  # fmt: skip
    except ReportScopeError as exc:  # nothing is queued; the message says what to change
        messages.error(request, f"The report cannot be produced: {exc}.")
        return redirect("audits:engagement_detail", pk=engagement.pk)
    if queued:
        messages.success(request, f"Report #{report.pk} queued: {report.get_status_display()}.")
    else:
        messages.info(request, f"Report #{report.pk} is already being rendered.")
    return redirect("audits:engagement_detail", pk=engagement.pk)


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_report_pdf(request: HttpRequest, pk: int, report_pk: int) -> HttpResponse:
    """The engagement report's PDF, stamped with the viewer and the time."""
    engagement = _engagement(request, pk)
    report = _report(engagement, report_pk)
    pdf = report_services.report_pdf_watermarked(
        report=report, viewer_label=viewer_label(request.user)
    )
    sha256 = hashlib.sha256(pdf).hexdigest()
    details = report_services.report_log_details(
        report,
        what="report_pdf",
        sha256=sha256,
        size=len(pdf),
        report_sha256=report.sha256,
        watermarked=report.watermark_downloads,
    )
    audit_log_record(action="engagement.download", obj=engagement, request=request, **details)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, report.filename)
    response["X-Content-SHA256"] = sha256
    return response


@require_POST
@role_required(ENGAGEMENT_READERS)
def engagement_report_pack(request: HttpRequest, pk: int, report_pk: int) -> HttpResponse:
    """Queue a build of the engagement report's signed evidence pack; answer at once with
    the build's page, which follows the job.

    The pack carries the PDF stamped for the person who asked (as the PDF download is): the
    unstamped original must not leave through an engagement page, or the watermark would be
    trivially stripped. Auditors see and download only their own builds.
    """
    engagement = _engagement(request, pk)
    report = _report(engagement, report_pk)
    build, queued = report_views.pack_build_start(
        request, report=report, audience=PackAudience.ENGAGEMENT,
        viewer_label=viewer_label(request.user),
    )  # fmt: skip
    if queued:
        details = report_services.report_log_details(report, what="evidence_pack",
                                                     pack_build_id=build.pk)  # fmt: skip
        audit_log_record(action="engagement.pack_build_requested", obj=engagement,
                         request=request, **details)  # fmt: skip
    else:
        messages.info(request, "This evidence pack is already being built.")
    return redirect("audits:pack_detail", pk=engagement.pk, build_pk=build.pk)


def _pack_builds_visible(request: HttpRequest, engagement: Engagement):
    """The engagement's pack builds this user may see: managers all, auditors their own."""
    builds = PackBuild.objects.filter(
        engagement_id=engagement.pk, audience=PackAudience.ENGAGEMENT
    ).select_related("report__framework", "requested_by")
    if request.user.role not in MANAGERS:
        builds = builds.filter(requested_by=request.user)
    return builds


def _pack_build(request: HttpRequest, engagement: Engagement, build_pk: int) -> PackBuild:
    build = _pack_builds_visible(request, engagement).filter(pk=build_pk).first()
    if build is None:
        raise Http404("No such evidence pack build in this engagement")
    _report(engagement, build.report_id)  # the report is still the engagement's to show
    return build


def _pack_urls(engagement: Engagement, build: PackBuild) -> dict[str, str]:
    kwargs = {"pk": engagement.pk, "build_pk": build.pk}
    return {
        "status": reverse("audits:pack_status", kwargs=kwargs),
        "download": reverse("audits:pack_download", kwargs=kwargs),
        "retry": reverse(
            "audits:report_pack", kwargs={"pk": engagement.pk, "report_pk": build.report_id}
        ),
    }


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_pack_detail(request: HttpRequest, pk: int, build_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    build = _pack_build(request, engagement, build_pk)
    back = (reverse("audits:engagement_detail", args=[engagement.pk]), engagement.name)
    return report_views.pack_build_page(
        request, build, urls=_pack_urls(engagement, build), back=back
    )


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_pack_status(request: HttpRequest, pk: int, build_pk: int) -> JsonResponse:
    engagement = _engagement(request, pk)
    build = _pack_build(request, engagement, build_pk)
    urls = _pack_urls(engagement, build)
    return JsonResponse(
        report_services_packs.pack_build_status_payload(
            build, download_url=urls["download"], retry_url=urls["retry"]
        )
    )


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_pack_download(request: HttpRequest, pk: int, build_pk: int) -> HttpResponse:
    """The stored ZIP of a finished build, logged as ``engagement.download``."""
    engagement = _engagement(request, pk)
    build = _pack_build(request, engagement, build_pk)
    try:
        response = report_views.pack_build_file_response(build)
    except report_services.PackUnavailable as exc:
        if build.active:
            raise Http404("The evidence pack is not built yet.") from None
        messages.error(request, f"The evidence pack cannot be downloaded: {exc}")
        return redirect("audits:pack_detail", pk=engagement.pk, build_pk=build.pk)
    details = report_services_packs.pack_build_log_details(
        build, what="evidence_pack", watermarked=bool(build.viewer_label)
        and build.report.watermark_downloads,
    )  # fmt: skip
    audit_log_record(action="engagement.download", obj=engagement, request=request, **details)
    return response
