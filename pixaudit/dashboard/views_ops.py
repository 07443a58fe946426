"""Operational pages: connections, runs, evidence, Statement of Applicability. Thin views."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from collectors import registry
from pixaudit.accounts.permissions import action_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Control, Framework
from pixaudit.dashboard import selectors
from pixaudit.dashboard.forms import ApplicabilityForm, ConnectionForm, EvidenceFilterForm
from pixaudit.dashboard.services import connection_run_now, evidence_item_verify
from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem, RunStatus
from pixaudit.evidence.run_errors import run_error_advice
from pixaudit.evidence.services import (
    UNSET,
    CollectionRunActive,
    CollectorIsAppRegister,
    ConnectionIsPushed,
    ConnectionParamsError,
    collector_class,
    connection_create,
    connection_secrets_set,
    connection_update,
)
from pixaudit.evidence.services.connections import app_register_message, connectable_collectors
from pixaudit.evidence.storage import artifact_chunks, artifact_exists
from pixaudit.lib.display import elapsed, format_when
from pixaudit.posture import selectors as posture_selectors
from pixaudit.posture.services import ApplicabilityError, applicability_decide

PAGE_SIZE = 50
SOA_FRAMEWORK = "iso27001-2022"


def _page(request: HttpRequest, qs):
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


# --- Connections ---------------------------------------------------------------------------


@action_required("connections.view")
def connection_list(request: HttpRequest) -> HttpResponse:
    registry.discover()
    # Push collectors' connections take no schedule: their rows arrive by API (pixaudit.api).
    # App registers have no connection at all: the app records their rows itself.
    collectors = sorted(connectable_collectors(), key=lambda c: c.title.lower())
    return render(
        request,
        "dashboard/connection_list.html",
        {"rows": selectors.connection_rows(), "collectors": collectors},
    )


@action_required("connections.manage")
def connection_create_view(request: HttpRequest) -> HttpResponse:
    key = request.POST.get("collector") or request.GET.get("collector") or ""
    try:
        collector = collector_class(key)
    except KeyError:
        messages.error(request, "Choose a collector to configure.")
        return redirect("dashboard:connection_list")
    if collector.app_register:
        messages.error(request, app_register_message(collector))
        return redirect("dashboard:connection_list")
    form = ConnectionForm(request.POST or None, collector=collector)
    if request.method == "POST" and form.is_valid():
        try:
            conn = connection_create(
                name=form.cleaned_data["name"],
                collector_key=collector.key,
                params=form.params_payload(),
                schedule_minutes=form.cleaned_data.get("schedule_minutes"),
                enabled=form.cleaned_data["enabled"],
                user=request.user,
                thresholds=form.thresholds_payload(),
                request=request,
            )
        except ConnectionParamsError as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, f"Connection “{conn.name}” created.")
            return redirect("dashboard:connection_list")
    return render(
        request,
        "dashboard/connection_form.html",
        {"form": form, "collector": collector, "connection": None},
        status=400 if form.errors else 200,
    )


@action_required("connections.manage")
def connection_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    conn = get_object_or_404(Connection, pk=pk)
    try:
        collector = collector_class(conn.collector_key)
    except KeyError:
        raise Http404(f"collector {conn.collector_key} is not installed") from None
    secrets_set = connection_secrets_set(connection=conn)
    form = ConnectionForm(
        request.POST or None, collector=collector, connection=conn, secrets_set=secrets_set
    )
    if request.method == "POST" and form.is_valid():
        try:
            connection_update(
                connection=conn,
                name=form.cleaned_data["name"],
                params=form.params_payload(for_update=True),
                clear_secrets=form.secrets_to_clear(),
                schedule_minutes=form.cleaned_data.get("schedule_minutes"),
                enabled=form.cleaned_data["enabled"],
                user=request.user,
                thresholds=(
                    UNSET if form.thresholds_payload() is None else form.thresholds_payload()
                ),
                request=request,
            )
        except ConnectionParamsError as exc:
            conn.refresh_from_db()
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, f"Connection “{conn.name}” saved.")
            return redirect("dashboard:connection_list")
    return render(
        request,
        "dashboard/connection_form.html",
        {"form": form, "collector": collector, "connection": conn},
        status=400 if form.errors else 200,
    )


@require_POST
@action_required("runs.start")
def connection_run(request: HttpRequest, pk: int) -> HttpResponse:
    conn = get_object_or_404(Connection, pk=pk)
    try:
        run = connection_run_now(connection=conn, user=request.user, request=request)
    except ConnectionIsPushed:
        messages.info(
            request,
            f"“{conn.name}” is never run: its evidence arrives by API "
            f"(POST /api/v1/push/{conn.collector_key}/?connection={conn.pk}).",
        )
        return redirect("dashboard:connection_list")
    except CollectorIsAppRegister as exc:
        messages.info(
            request,
            f"“{conn.name}” is never run: {exc.collector_key} is recorded by pixaudit from "
            f"{exc.recorded_in}, which appends its evidence after each change.",
        )
        return redirect("dashboard:connection_list")
    except CollectionRunActive as exc:
        messages.warning(request, f"“{conn.name}” is already running.")
        if exc.run is not None:
            return redirect("dashboard:run_detail", pk=exc.run.pk)
        return redirect("dashboard:connection_list")
    return redirect("dashboard:run_detail", pk=run.pk)


# --- Runs ----------------------------------------------------------------------------------


@action_required("connections.view")
def run_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    status = status if status in RunStatus.values else ""
    connection = None
    if request.GET.get("connection", "").isdigit():
        connection = Connection.objects.filter(pk=int(request.GET["connection"])).first()
    page = _page(request, selectors.run_list(connection=connection, status=status))
    return render(
        request,
        "dashboard/run_list.html",
        {
            "page": page,
            "status": status,
            "statuses": RunStatus.choices,
            "connection": connection,
            "connections": Connection.objects.order_by("name").only("pk", "name"),
        },
    )


def _attempt_payload(run: CollectionRun, now) -> dict:
    active = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    advice = ""
    if run.status == RunStatus.FAILED:
        advice = run_error_advice(kind=run.error_kind, collector_key=run.collector_key)
    return {
        "id": run.pk,
        "url": reverse("dashboard:run_detail", args=[run.pk]),
        "attempt": run.attempt,
        "status": run.status,
        "status_label": run.get_status_display(),
        "active": active,
        "queued_at_display": format_when(run.queued_at),
        "retry_at_display": format_when(run.retry_at) if run.retry_at else "",
        "started_at_display": format_when(run.started_at),
        "finished_at_display": format_when(run.finished_at),
        # Real times: how long it waited for a worker, and how long it ran (so far).
        "waited": elapsed(run.retry_at or run.queued_at, run.started_at)
        if run.started_at and (run.retry_at or run.queued_at) <= run.started_at
        else "—",
        "duration": elapsed(run.started_at, run.finished_at or (now if active else None)),
        "error_advice": advice,
        "error_message": run.error_message,
    }


def _run_payload(run: CollectionRun) -> dict:
    evidence = selectors.run_evidence(run=run) if run.status == RunStatus.SUCCEEDED else None
    now = timezone.now()
    attempts = [_attempt_payload(a, now) for a in selectors.run_attempts(run=run)]
    active = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "active": active,
        # Keep polling while any attempt of this collection may still change.
        "any_active": any(a["active"] for a in attempts),
        "attempts": attempts,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        # What the page shows: the same format as every other page, not the browser locale's.
        "started_at_display": format_when(run.started_at),
        "finished_at_display": format_when(run.finished_at),
        "duration": elapsed(run.started_at, run.finished_at or (now if active else None)),
        "rows_count": run.rows_count,
        "findings": {
            "pass": run.findings_pass,
            "fail": run.findings_fail,
            "warn": run.findings_warn,
            "error": run.findings_error,
        },
        "error_message": run.error_message,
        "error_advice": run_error_advice(kind=run.error_kind, collector_key=run.collector_key)
        if run.status == RunStatus.FAILED
        else "",
        # A retry waiting for its due time (the scheduler tick hands it to a worker then).
        "retry_at": run.retry_at.isoformat() if run.retry_at else None,
        "evidence_url": reverse("dashboard:evidence_detail", args=[evidence.pk])
        if evidence
        else None,
    }


@action_required("connections.view")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(CollectionRun.objects.select_related("connection", "retry_of"), pk=pk)
    payload = _run_payload(run)
    next_attempt = CollectionRun.objects.filter(retry_of=run).first()
    return render(
        request,
        "dashboard/run_detail.html",
        {"run": run, "payload": payload, "next_attempt": next_attempt},
    )


@require_GET
@action_required("connections.view")
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(CollectionRun, pk=pk)
    response = JsonResponse(_run_payload(run))
    response["Cache-Control"] = "no-store"
    return response


# --- Evidence ------------------------------------------------------------------------------


@action_required("evidence.view")
def evidence_list(request: HttpRequest) -> HttpResponse:
    form = EvidenceFilterForm(
        request.GET or None, collector_keys=selectors.evidence_collector_keys()
    )
    since, until = form.bounds() if form.is_bound else (None, None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    qs = selectors.evidence_browse(
        collector_key=data.get("collector", ""),
        since=since,
        until=until,
        resource=data.get("resource", "").strip(),
        status=data.get("status", ""),
    )
    return render(
        request, "dashboard/evidence_list.html", {"form": form, "page": _page(request, qs)}
    )


FINDINGS_PAGE_SIZE = 50


def _evidence_context(request: HttpRequest, item: EvidenceItem) -> dict:
    # A fixed number of queries whatever the item's size: a count, the counts per status
    # and one page of findings.
    findings = Paginator(selectors.evidence_findings(evidence=item), FINDINGS_PAGE_SIZE)
    return {
        "item": item,
        "findings": findings.get_page(request.GET.get("page")),
        "finding_counts": selectors.evidence_finding_counts(evidence=item),
    }


@action_required("evidence.view")
def evidence_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(EvidenceItem.objects.select_related("connection", "run"), pk=pk)
    context = {**_evidence_context(request, item), "verify": None}
    return render(request, "dashboard/evidence_detail.html", context)


@require_POST
@action_required("evidence.verify")
def evidence_verify(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(EvidenceItem.objects.select_related("connection", "run"), pk=pk)
    outcome = evidence_item_verify(item=item, user=request.user, request=request)
    context = {**_evidence_context(request, item), "verify": outcome}
    return render(request, "dashboard/evidence_detail.html", context)


@require_GET
@action_required("evidence.view")
def evidence_artifact(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(EvidenceItem, pk=pk)
    if not artifact_exists(item.artifact_path):
        raise Http404("The artifact file is missing from storage.")
    audit_log_record(action="evidence.downloaded", obj=item, request=request, sha256=item.sha256)
    response = StreamingHttpResponse(
        artifact_chunks(item.artifact_path), content_type="application/json"
    )
    response["Content-Length"] = str(item.size)
    response["Content-Disposition"] = (
        f'attachment; filename="evidence-{item.seq}-{item.collector_key}-{item.sha256[:12]}.json"'
    )
    response["X-Content-SHA256"] = item.sha256
    digest_b64 = base64.b64encode(bytes.fromhex(item.sha256)).decode("ascii")
    response["Repr-Digest"] = f"sha-256=:{digest_b64}:"
    return response


# --- Statement of Applicability ------------------------------------------------------------


@action_required("soa.view")
def soa_list(request: HttpRequest) -> HttpResponse:
    framework = get_object_or_404(Framework, key=request.GET.get("framework") or SOA_FRAMEWORK)
    entries = posture_selectors.soa_entries(framework=framework)
    excluded = sum(1 for _, d in entries if d is not None and not d.applicable)
    decided = sum(1 for _, d in entries if d is not None)
    return render(
        request,
        "dashboard/soa_list.html",
        {"framework": framework, "entries": entries, "excluded": excluded, "decided": decided},
    )


@action_required("soa.manage")
def soa_edit(request: HttpRequest, framework_key: str, ref: str) -> HttpResponse:
    control = get_object_or_404(
        Control.objects.select_related("framework", "parent"),
        framework__key=framework_key,
        ref=ref,
    )
    history = list(posture_selectors.applicability_history(control=control))
    current = history[0] if history else None
    initial = {
        "applicable": "no" if current and not current.applicable else "yes",
        "justification": current.justification if current else "",
    }
    form = ApplicabilityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            applicability_decide(
                control=control,
                applicable=form.cleaned_data["applicable"] == "yes",
                justification=form.cleaned_data["justification"],
                user=request.user,
                request=request,
            )
        except ApplicabilityError as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, f"{control.ref} applicability recorded.")
            return redirect(f"{reverse('dashboard:soa_list')}?framework={framework_key}")
    return render(
        request,
        "dashboard/soa_form.html",
        {"control": control, "form": form, "history": history, "current": current},
        status=400 if form.errors else 200,
    )
