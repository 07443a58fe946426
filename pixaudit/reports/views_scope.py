"""Pages where the organisation writes what its reports state: the scope statement (system
description, boundaries, Trust Services categories, subservice organisations, complementary
user entity controls, management assertion) and each control's narrative. Internal users
read them; managers save new versions (append-only history, audit-logged by the services).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from pixaudit.accounts.permissions import action_required, can
from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import control_get
from pixaudit.posture.selectors import assessable_controls
from pixaudit.reports.forms import NarrativeForm, ReportScopeForm
from pixaudit.reports.selectors_scope import (
    control_narrative_history,
    control_narratives,
    scope_statement_current,
    scope_statement_history,
)
from pixaudit.reports.services_scope import control_narrative_save, scope_statement_save

SOC2 = "soc2-2017"


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _framework(key: str) -> Framework:
    return get_object_or_404(Framework, key=key)


def _scope_initial(scope) -> dict:
    if scope is None:
        return {}
    names = [*ReportScopeForm.base_fields]
    return {name: getattr(scope, name) for name in names}


@action_required("reports.view")
@require_http_methods(["GET", "POST"])
def scope_edit(request: HttpRequest, framework_key: str) -> HttpResponse:
    framework = _framework(framework_key)
    current = scope_statement_current(framework=framework)
    may_edit = can(request.user, "reports.scope_edit")
    soc2 = framework.key == SOC2
    form = ReportScopeForm(initial=_scope_initial(current), soc2=soc2)
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied
        form = ReportScopeForm(request.POST, soc2=soc2)
        if form.is_valid():
            try:
                scope_statement_save(framework=framework, actor=request.user, request=request,
                                  **form.cleaned_data)  # fmt: skip
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, f"Scope statement for {framework.name} saved.")
                return redirect("reports:scope", framework_key=framework.key)
    context = {
        "framework": framework,
        "frameworks": Framework.objects.order_by("key"),
        "current": current,
        "history": scope_statement_history(framework=framework)[:50],
        "form": form if may_edit else None,
        "soc2": soc2,
    }
    return render(request, "reports/scope.html", context, status=400 if form.errors else 200)


@action_required("reports.view")
def narrative_list(request: HttpRequest, framework_key: str) -> HttpResponse:
    framework = _framework(framework_key)
    controls = list(assessable_controls(framework=framework))
    narratives = control_narratives(controls=controls)
    rows = [(c, narratives.get(c.pk)) for c in controls]
    context = {
        "framework": framework,
        "frameworks": Framework.objects.order_by("key"),
        "rows": rows,
        "written": sum(1 for _, n in rows if n),
    }
    return render(request, "reports/narrative_list.html", context)


@action_required("reports.view")
@require_http_methods(["GET", "POST"])
def narrative_edit(request: HttpRequest, framework_key: str, ref: str) -> HttpResponse:
    try:
        control = control_get(framework_key=framework_key, ref=ref)
    except Control.DoesNotExist:
        raise Http404("No such control") from None
    current = control_narratives(controls=[control]).get(control.pk)
    may_edit = can(request.user, "reports.scope_edit")
    form = NarrativeForm(initial={"text": current.text if current else ""})
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied
        form = NarrativeForm(request.POST)
        if form.is_valid():
            try:
                control_narrative_save(control=control, text=form.cleaned_data["text"],
                                       actor=request.user, request=request)  # fmt: skip
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, f"Narrative for {control.ref} saved.")
                return redirect("reports:narrative_edit", framework_key=framework_key, ref=ref)
    context = {
        "framework": control.framework,
        "control": control,
        "current": current,
        "history": control_narrative_history(control=control)[:50],
        "form": form if may_edit else None,
    }
    return render(
        request, "reports/narrative_edit.html", context, status=400 if form.errors else 200
    )
