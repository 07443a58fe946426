"""Pages of the AWS integrations: list, form, detail (templates, test, run), run progress."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from collectors.aws._cloudformation import role_template, stackset_template, template_json
from pixaudit.accounts.permissions import action_required, can
from pixaudit.auditlog.services import audit_log_record
from pixaudit.awsorg import selectors
from pixaudit.awsorg.forms import IntegrationForm
from pixaudit.awsorg.models import AwsIntegration, AwsIntegrationRun, IntegrationMode
from pixaudit.awsorg.services.config import (
    IntegrationError,
    aws_collectors,
    aws_integration_create,
    aws_integration_test,
    aws_integration_update,
)
from pixaudit.awsorg.services.runs import IntegrationRunActive, aws_integration_run_start


@action_required("connections.view")
def integration_list(request: HttpRequest) -> HttpResponse:
    integrations = AwsIntegration.objects.all()
    return render(
        request,
        "awsorg/list.html",
        {"integrations": integrations, "can_manage": can(request.user, "connections.manage")},
    )


@action_required("connections.manage")
def integration_create(request: HttpRequest) -> HttpResponse:
    form = IntegrationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            integration = aws_integration_create(**form.service_kwargs(), user=request.user)
        except IntegrationError as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, f"AWS integration “{integration.name}” created.")
            return redirect("awsorg:detail", pk=integration.pk)
    status = 400 if form.errors else 200
    return render(request, "awsorg/form.html", {"form": form, "integration": None}, status=status)


@action_required("connections.manage")
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(AwsIntegration, pk=pk)
    data = request.POST if request.method == "POST" else None
    form = IntegrationForm(data, integration=integration)
    if request.method == "POST" and form.is_valid():
        try:
            aws_integration_update(integration=integration, user=request.user,
                                   **form.service_kwargs())  # fmt: skip
        except IntegrationError as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, "Saved.")
            return redirect("awsorg:detail", pk=integration.pk)
    status = 400 if form.errors else 200
    context = {"form": form, "integration": integration}
    return render(request, "awsorg/form.html", context, status=status)


@action_required("connections.view")
def integration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(AwsIntegration, pk=pk)
    enabled = set(integration.collectors)
    collectors = [(cls, cls.key in enabled) for cls in aws_collectors()]
    runs = list(integration.runs.all()[:10])
    return render(
        request,
        "awsorg/detail.html",
        {
            "integration": integration,
            "collectors": collectors,
            "runs": runs,
            "accounts": integration.accounts.all()[:500],
            "probe": integration.last_probe or None,
            "organization": integration.mode == IntegrationMode.ORGANIZATION,
            "can_manage": can(request.user, "connections.manage"),
            "can_run": can(request.user, "runs.start"),
        },
    )


@require_POST
@action_required("connections.manage")
def integration_test(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(AwsIntegration, pk=pk)
    result = aws_integration_test(integration=integration, user=request.user)
    if result["ok"]:
        messages.success(request, "Connection works: every enabled collector could read.")
    else:
        messages.warning(request, "Connection test found problems; see below.")
    return redirect("awsorg:detail", pk=integration.pk)


@require_POST
@action_required("runs.start")
def integration_run(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(AwsIntegration, pk=pk)
    try:
        run = aws_integration_run_start(integration=integration, user=request.user)
    except IntegrationRunActive as exc:
        messages.warning(request, f"“{integration.name}” is already running.")
        return redirect("awsorg:run_detail", pk=exc.run.pk)
    return redirect("awsorg:run_detail", pk=run.pk)


def _template_response(
    request: HttpRequest, integration: AwsIntegration, *, stackset: bool
) -> HttpResponse:
    enabled = [cls for cls in aws_collectors() if cls.key in set(integration.collectors)]
    role = integration.member_role_name or "pixaudit-readonly"
    template = (
        stackset_template(enabled, role_name=role)
        if stackset
        else role_template(enabled, role_name=role, org_lister=False)
    )
    body = template_json(template)
    kind = "stackset" if stackset else "role"
    audit_log_record(
        action="aws_integration.template_downloaded", obj=integration, request=request, kind=kind
    )
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="pixaudit-{kind}-{integration.pk}.json"'
    )
    return response


@require_GET
@action_required("connections.view")
def integration_template(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(AwsIntegration, pk=pk)
    return _template_response(request, integration, stackset=False)


@require_GET
@action_required("connections.view")
def integration_stackset(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(AwsIntegration, pk=pk)
    return _template_response(request, integration, stackset=True)


@action_required("connections.view")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(AwsIntegrationRun.objects.select_related("integration"), pk=pk)
    return render(
        request,
        "awsorg/run.html",
        {
            "run": run,
            "progress": selectors.integration_run_progress(run),
            "accounts": selectors.run_accounts(run),
        },
    )
