"""Evidence requests, samples and the invitation link (all scoped like ``views``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from pixaudit.accounts.models import Role
from pixaudit.accounts.permissions import AUDITORS, ENGAGEMENT_READERS, MANAGERS, role_required
from pixaudit.audits import sampling, selectors, services
from pixaudit.audits.forms import (
    AcceptInvitationForm,
    AnswerForm,
    EvidenceRequestForm,
    ReviewForm,
    SampleForm,
)
from pixaudit.audits.models import AuditorInvitation, EvidenceRequest
from pixaudit.audits.views import _engagement, form_errors_apply
from pixaudit.audits.views_controls import _sample, sample_page


def _request(engagement, pk: int) -> EvidenceRequest:
    try:
        return selectors.evidence_request_get(engagement=engagement, pk=pk)
    except EvidenceRequest.DoesNotExist:
        raise Http404("No such request in this engagement") from None


@role_required(ENGAGEMENT_READERS)
def request_list(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    status = request.GET.get("status", "")
    items = selectors.evidence_request_list(engagement=engagement)
    if status:
        items = items.filter(status=status)
    context = {"engagement": engagement, "requests": items, "status": status}
    return render(request, "audits/request_list.html", context)


@role_required(AUDITORS)
def request_create(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    form = EvidenceRequestForm(request.POST or None, engagement=engagement)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.evidence_request_create(
                engagement=engagement, actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, "Request sent to the team.")
            return redirect("audits:request_detail", pk=engagement.pk, request_pk=created.pk)
    return render(request, "audits/request_form.html", {"form": form, "engagement": engagement})


def _request_page(request, engagement, evidence_request, *, answer_form=None, review_form=None):
    user = request.user
    context = {
        "engagement": engagement,
        "evidence_request": evidence_request,
        "events": selectors.evidence_request_events(request=evidence_request),
        "linked": evidence_request.evidence_items.order_by("-collected_at"),
    }
    if user.role in MANAGERS:
        from pixaudit.tasks.selectors import task_for_request

        context["task"] = task_for_request(evidence_request=evidence_request)
    if user.role in MANAGERS and evidence_request.status in ("open", "needs_more"):
        context["answer_form"] = answer_form or AnswerForm(engagement=engagement)
    if user.role == Role.AUDITOR and evidence_request.status == "answered":
        context["review_form"] = review_form or ReviewForm()
    return render(request, "audits/request_detail.html", context)


@role_required(ENGAGEMENT_READERS)
def request_detail(request: HttpRequest, pk: int, request_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    return _request_page(request, engagement, _request(engagement, request_pk))


@require_POST
@role_required(MANAGERS)
def request_answer(request: HttpRequest, pk: int, request_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    evidence_request = _request(engagement, request_pk)
    form = AnswerForm(request.POST, engagement=engagement)
    if form.is_valid():
        try:
            services.evidence_request_answer(
                evidence_request=evidence_request, actor=request.user, request=request,
                note=form.cleaned_data["note"], evidence_items=form.cleaned_data["evidence_items"],
            )  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, "Answer sent to the auditor.")
            return redirect("audits:request_detail", pk=engagement.pk, request_pk=request_pk)
    return _request_page(request, engagement, evidence_request, answer_form=form)


@require_POST
@role_required(AUDITORS)
def request_review(request: HttpRequest, pk: int, request_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    evidence_request = _request(engagement, request_pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.evidence_request_review(
                evidence_request=evidence_request, actor=request.user, request=request,
                accept=form.cleaned_data["decision"] == "accept", note=form.cleaned_data["note"],
            )  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, "Review recorded.")
            return redirect("audits:request_detail", pk=engagement.pk, request_pk=request_pk)
    return _request_page(request, engagement, evidence_request, review_form=form)


@role_required(ENGAGEMENT_READERS)
def sample_list(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    form = SampleForm(request.POST or None, engagement=engagement)
    if request.method == "POST" and form.is_valid():
        try:
            sample = sampling.sample_draw(
                engagement=engagement, actor=request.user, request=request,
                kind=form.cleaned_data["kind"], size=form.cleaned_data["size"],
                collector_key=form.cleaned_data.get("collector_key") or "",
                seed=form.cleaned_data.get("seed"), control=form.cleaned_data.get("control"),
            )  # fmt: skip
        except ValidationError as exc:
            form_errors_apply(form, exc)
        else:
            messages.success(request, f"Sample drawn with seed {sample.seed}.")
            return redirect("audits:sample_detail", pk=engagement.pk, sample_pk=sample.pk)
    context = {
        "engagement": engagement,
        "samples": selectors.sample_list(engagement=engagement),
        "form": form,
    }
    return render(request, "audits/sample_list.html", context)


@role_required(ENGAGEMENT_READERS)
def sample_detail(request: HttpRequest, pk: int, sample_pk: int) -> HttpResponse:
    engagement = _engagement(request, pk)
    return sample_page(request, engagement, _sample(engagement, sample_pk))


_UNUSABLE = {
    "expired": "This invitation has expired. Ask your contact to send a new one.",
    "revoked": "This invitation was withdrawn. Ask your contact if you still need access.",
    "accepted": "This invitation has already been used. Sign in with your account.",
    "conflict": "An account with this address already exists and cannot be used for audits.",
}


def _unusable(request: HttpRequest, reason: str) -> HttpResponse:
    context = {"message": _UNUSABLE.get(reason, "This invitation cannot be used.")}
    return render(request, "audits/invitation_error.html", context, status=410)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Public: the link from the invitation e-mail. Creates or links the auditor account."""
    try:
        invitation = services.invitation_get_by_token(token=token)
    except AuditorInvitation.DoesNotExist:
        context = {"message": "This invitation link is not valid. Check that you copied it whole."}
        return render(request, "audits/invitation_error.html", context, status=404)
    if invitation.status != "pending":
        return _unusable(
            request, "accepted" if invitation.status == "active" else invitation.status
        )
    has_account = services.auditor_has_account(invitation=invitation)
    form = None if has_account else AcceptInvitationForm(request.POST or None,
                                                          email=invitation.email)  # fmt: skip
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            user = services.auditor_invitation_accept(
                invitation=invitation, request=request,
                password=form.cleaned_data["password1"] if form is not None else None,
            )  # fmt: skip
        except services.InvitationUnusable as exc:
            return _unusable(request, exc.reason)
        if has_account:
            messages.success(request, "Invitation accepted. Sign in to open the engagement.")
            return redirect("accounts:login")
        login(request, user, backend="pixaudit.accounts.backends.LockoutModelBackend")
        return redirect("audits:engagement_detail", pk=invitation.engagement_id)
    context = {"invitation": invitation, "form": form, "has_account": has_account}
    return render(request, "audits/invitation_accept.html", context)
