"""Commitment pages: "every claim backed" (internal) and the opt-in public trust page."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pixaudit.accounts.permissions import ACTIONS, can, role_required
from pixaudit.commitments import selectors
from pixaudit.commitments.models import Commitment
from pixaudit.commitments.services import TrustPageChanged, trust_page_publish, trust_page_set
from pixaudit.controls.models import Control
from pixaudit.posture.selectors import control_posture
from pixaudit.vendors.selectors import public_subprocessors

VIEW = ACTIONS["commitments.view"]
MANAGE = ACTIONS["commitments.manage"]


@role_required(VIEW)
def commitment_list(request: HttpRequest) -> HttpResponse:
    states = selectors.commitment_states()
    context = {
        "states": states,
        "trust_enabled": selectors.trust_page_enabled(),
        "can_manage": can(request.user, "commitments.manage"),
        "backed": sum(1 for s in states if s.status == "passing"),
    }
    return render(request, "commitments/list.html", context)


@role_required(VIEW)
def commitment_detail(request: HttpRequest, key: str) -> HttpResponse:
    commitment = get_object_or_404(Commitment, key=key)
    state = next(s for s in selectors.commitment_states() if s.commitment.pk == commitment.pk)
    controls = []
    for address in commitment.control_addresses:
        framework, _, ref = address.partition(":")
        control = (
            Control.objects.select_related("framework", "parent")
            .filter(framework__key=framework, ref=ref)
            .first()
        )
        if control is not None:
            controls.append(control_posture(control=control))
    context = {
        "state": state,
        "commitment": commitment,
        "results": selectors.commitment_results(commitment=commitment),
        "controls": controls,
    }
    return render(request, "commitments/detail.html", context)


@role_required(MANAGE)
def trust_page_preview(request: HttpRequest) -> HttpResponse:
    """Exactly what publishing makes public, and the confirmation that publishes it."""
    entries = selectors.trust_page_entries()
    context = {
        "entries": entries,
        "digest": selectors.trust_page_digest(entries),
        "trust_enabled": selectors.trust_page_enabled(),
        "subprocessors": public_subprocessors(),
    }
    return render(request, "commitments/trust_preview.html", context)


@require_POST
@role_required(MANAGE)
def trust_page_toggle(request: HttpRequest) -> HttpResponse:
    """Unpublish at once; publish only from the preview, confirmed, as it was previewed."""
    if request.POST.get("enabled") != "on":
        trust_page_set(enabled=False, user=request.user)
        messages.success(request, "The trust page is off.")
        return redirect("commitments:list")
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Review the preview and confirm before publishing.")
        return redirect("commitments:trust_page_preview")
    try:
        trust_page_publish(user=request.user, reviewed_digest=request.POST.get("digest", ""))
    except TrustPageChanged as exc:
        messages.warning(request, str(exc))
        return redirect("commitments:trust_page_preview")
    messages.success(request, "The public trust page is published.")
    return redirect("commitments:list")


def trust_page(request: HttpRequest) -> HttpResponse:
    """Public (anonymous) when enabled; 404 otherwise, as if it did not exist."""
    if not selectors.trust_page_enabled():
        raise Http404("No trust page")
    # The sub-processor list (names and purposes) only when the organisation opted in.
    context = {"entries": selectors.trust_page_entries(), "subprocessors": public_subprocessors()}
    return render(request, "commitments/trust.html", context)
