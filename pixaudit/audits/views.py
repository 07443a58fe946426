"""Engagement pages: managers run engagements, auditors see only their own.

Every view that takes an engagement id reads it through ``engagement_get_for_user`` (and
objects under it through the scoped selectors), so another engagement's ids, evidence outside
the window and expired access all answer 404 alike.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from pixaudit.accounts.models import Role
from pixaudit.accounts.permissions import ENGAGEMENT_READERS, MANAGERS, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits import selectors, services
from pixaudit.audits.forms import EngagementForm, InvitationForm
from pixaudit.audits.models import AuditorInvitation, Engagement
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.storage import artifact_chunks


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
        "is_manager": request.user.role in MANAGERS,
    }
    if request.user.role in MANAGERS:
        context["invitations"] = selectors.engagement_invitations(engagement=engagement)
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
            invitation, _token = services.auditor_invite(
                engagement=engagement, email=form.cleaned_data["email"],
                invited_by=request.user, expires_at=form.cleaned_data["expires_on"],
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("audits:engagement_detail", pk=engagement.pk)
    return render(request, "audits/invitation_form.html", {"form": form, "engagement": engagement})


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
