"""Notification pages: personal preferences; endpoints with their delivery log (managers)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pixaudit.accounts.permissions import action_required
from pixaudit.notifications import services
from pixaudit.notifications.forms import EndpointForm, EndpointUpdateForm, PreferenceForm
from pixaudit.notifications.models import Endpoint


def _apply(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@action_required("notifications.preferences")
def preferences(request: HttpRequest) -> HttpResponse:
    pref = services.preference_get(request.user)
    initial = {"email_events": pref.email_events, "digest": pref.digest}
    form = PreferenceForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.preference_set(
                user=request.user,
                request=request,
                email_events=form.cleaned_data["email_events"],
                digest=form.cleaned_data["digest"],
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "Notification preferences saved.")
            return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


@action_required("notifications.manage")
def endpoint_list(request: HttpRequest) -> HttpResponse:
    endpoints = Endpoint.objects.all()
    return render(request, "notifications/endpoint_list.html", {"endpoints": endpoints})


@action_required("notifications.manage")
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(
                actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            # The secret is shown once, on this response, and never again.
            return _detail(request, endpoint, secret=secret)
    return render(request, "notifications/endpoint_form.html", {"form": form})


def _detail(request, endpoint, *, secret: str = "", form=None) -> HttpResponse:
    form = form or EndpointUpdateForm(
        initial={
            "name": endpoint.name,
            "url": endpoint.url,
            "events": endpoint.events,
            "enabled": endpoint.enabled,
        }
    )
    context = {
        "endpoint": endpoint,
        "secret": secret,
        "form": form,
        "deliveries": endpoint.deliveries.select_related("notification")[:200],
    }
    return render(request, "notifications/endpoint_detail.html", context)


@action_required("notifications.manage")
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, get_object_or_404(Endpoint, pk=pk))


@require_POST
@action_required("notifications.manage")
def endpoint_update(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    form = EndpointUpdateForm(request.POST)
    if form.is_valid():
        moved = form.cleaned_data["url"].strip() != endpoint.url
        try:
            services.endpoint_update(
                endpoint=endpoint, actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            if moved and endpoint.kind == "webhook":
                return _detail(request, endpoint, secret=services.endpoint_secret(endpoint))
            messages.success(request, "Endpoint saved.")
            return redirect("notifications:endpoint_detail", pk=pk)
    return _detail(request, endpoint, form=form)


@require_POST
@action_required("notifications.manage")
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    try:
        secret = services.endpoint_secret_rotate(
            endpoint=endpoint, actor=request.user, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("notifications:endpoint_detail", pk=pk)
    return _detail(request, endpoint, secret=secret)


@require_POST
@action_required("notifications.manage")
def endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    services.endpoint_test(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, "Test message queued; its delivery shows below.")
    return redirect("notifications:endpoint_detail", pk=pk)
