"""Access review pages. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import ACTIONS, INTERNAL, can, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.storage import artifact_chunks
from pixaudit.reviews import selectors
from pixaudit.reviews.forms import CampaignForm
from pixaudit.reviews.models import Campaign, Decision
from pixaudit.reviews.services import (
    ReviewError,
    campaign_cancel,
    campaign_complete,
    campaign_request,
    entries_decide,
    entry_assign,
)
from pixaudit.reviews.services.campaigns import entry_can_decide, snapshot_verify

VIEW = ACTIONS["reviews.view"]
MANAGE = ACTIONS["reviews.manage"]
DECIDE = ACTIONS["reviews.decide"]


def _errors(request: HttpRequest, exc: ReviewError) -> None:
    for message in exc.errors.values():
        messages.error(request, message)


@role_required(VIEW)
def campaign_list(request: HttpRequest) -> HttpResponse:
    overview = selectors.campaigns_overview()
    context = {
        "o": overview,
        "open_all": overview.overdue + overview.open,
        "today": timezone.now().date(),
    }
    return render(request, "reviews/campaign_list.html", context)


@role_required(MANAGE)
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = campaign_request(
                connection=data["connection"], name=data["name"], due_on=data["due_on"],
                user=request.user, reviewers=list(data["reviewers"]),
                recurrence=data["recurrence"] or "",
            )  # fmt: skip
        except ReviewError as exc:
            for key, message in exc.errors.items():
                form.add_error(key if key in form.fields else None, message)
        else:
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.OPEN:  # the job ran here (no worker)
                messages.success(request, f"Campaign “{campaign.name}” started: snapshot sealed.")
            else:
                messages.info(request, f"Campaign “{campaign.name}” started: taking the "
                              "population snapshot in the background.")  # fmt: skip
            return redirect("reviews:campaign_detail", campaign.pk)
    return render(
        request, "reviews/campaign_form.html", {"form": form}, status=400 if form.errors else 200
    )


@role_required(VIEW)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        campaign = selectors.campaign_get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign") from None
    show = request.GET.get("show", "")
    entries = list(selectors.campaign_entries(campaign=campaign, show=show))
    reviewer_ids = set(campaign.reviewers.values_list("pk", flat=True))
    is_open = campaign.status == Campaign.Status.OPEN
    for entry in entries:
        entry.editable = is_open and entry_can_decide(
            entry=entry, user=request.user, reviewer_ids=reviewer_ids
        )
    context = {
        "campaign": campaign,
        "entries": entries,
        "show": show,
        "can_manage": can(request.user, "reviews.manage"),
        "any_editable": any(e.editable for e in entries),
        "decisions": [(d.value, d.label) for d in Decision if d.value],
        "reviewers": campaign.reviewers.order_by("username"),
        "internal_users": User.objects.filter(role__in=INTERNAL, is_active=True).order_by(
            "username"
        ),
        "followups": list(selectors.campaign_followups(campaign=campaign)),
        "sealed_ok": snapshot_verify(campaign=campaign),
        "today": timezone.now().date(),
    }
    return render(request, "reviews/campaign_detail.html", context)


@require_POST
@role_required(DECIDE)
def campaign_decide(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    decisions: dict[int, tuple[str, str]] = {}
    for key, value in request.POST.items():
        if key.startswith("decision-") and key[9:].isdigit():
            entry_id = int(key[9:])
            decisions[entry_id] = (value, request.POST.get(f"note-{entry_id}", "")[:4000])
    try:
        changed = entries_decide(campaign=campaign, decisions=decisions, user=request.user)
    except ReviewError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"{changed} decision(s) saved.")
    return redirect("reviews:campaign_detail", campaign.pk)


@require_POST
@role_required(MANAGE)
def campaign_assign(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    users = {str(u.pk): u for u in User.objects.filter(role__in=INTERNAL, is_active=True)}
    count = 0
    try:
        for entry in campaign.entries.all():
            value = request.POST.get(f"reviewer-{entry.pk}")
            if value is None:
                continue
            reviewer = users.get(value)
            if (reviewer.pk if reviewer else None) != entry.reviewer_id:
                entry_assign(entry=entry, reviewer=reviewer, user=request.user)
                count += 1
    except ReviewError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"{count} assignment(s) changed.")
    return redirect("reviews:campaign_detail", campaign.pk)


@require_POST
@role_required(MANAGE)
def campaign_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        item = campaign_complete(campaign=campaign, user=request.user)
    except ReviewError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"Campaign completed; evidence #{item.seq} added to the chain.")
    return redirect("reviews:campaign_detail", campaign.pk)


@require_POST
@role_required(MANAGE)
def campaign_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        campaign_cancel(campaign=campaign, user=request.user)
    except ReviewError as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Campaign cancelled.")
    return redirect("reviews:campaign_list")


@require_GET
@role_required(VIEW)
def campaign_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if not campaign.snapshot_path:
        raise Http404("The snapshot of this campaign has not been taken.")
    audit_log_record(action="review.snapshot_downloaded", obj=campaign, request=request,
                     sha256=campaign.snapshot_sha256)  # fmt: skip
    response = StreamingHttpResponse(
        artifact_chunks(campaign.snapshot_path), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.pk}-snapshot-{campaign.snapshot_sha256}.json"'
    )
    return response
