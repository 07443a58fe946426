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
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
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
from pixaudit.reports import signing
from pixaudit.reports.models import Report
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
        )  # fmt: skip
    except ReportScopeError as exc:
        messages.error(request, f"The report cannot be produced: {exc}")
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


@require_GET
@role_required(ENGAGEMENT_READERS)
def engagement_report_pack(request: HttpRequest, pk: int, report_pk: int) -> HttpResponse:
    """The engagement report's signed evidence pack, built into a temporary file, streamed.

    The pack carries the same stamped PDF as the PDF download: the unstamped original must
    not leave through an engagement page, or the watermark would be trivially stripped.
    """
    engagement = _engagement(request, pk)
    report = _report(engagement, report_pk)
    stamped = None
    if report.watermark_downloads:
        stamped = report_services.report_pdf_watermarked(
            report=report, viewer_label=viewer_label(request.user)
        )
    try:
        pack = report_services.pack_build_tempfile(report=report, report_pdf=stamped)
    except report_services.PackUnavailable as exc:
        messages.error(request, f"The evidence pack cannot be built: {exc}")
        return redirect("audits:engagement_detail", pk=engagement.pk)
    details = report_services.report_log_details(
        report,
        what="evidence_pack",
        sha256=pack.sha256,
        size=pack.size,
        manifest_sha256=pack.result.manifest_sha256,
        report_sha256=report.sha256,
        watermarked=stamped is not None,
    )
    audit_log_record(action="engagement.download", obj=engagement, request=request, **details)
    response = FileResponse(
        pack.file, as_attachment=True, filename=pack.filename, content_type="application/zip"
    )
    response["X-Content-SHA256"] = pack.sha256
    return response
