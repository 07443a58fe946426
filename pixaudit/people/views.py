"""People pages: the person × systems grid, the mapping table, HR uploads. Thin views."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from pixaudit.accounts.permissions import ACTIONS, role_required
from pixaudit.evidence.models import Connection
from pixaudit.people import selectors
from pixaudit.people.forms import AliasForm, DeclarationForm, ReviewForm, RunForm, UploadForm
from pixaudit.people.models import AccountDeclaration, PersonAlias
from pixaudit.people.services import (
    PeopleError,
    alias_delete,
    alias_save,
    declaration_delete,
    declaration_save,
    hr_upload,
    lifecycle_run,
    review_start,
)

VIEW = ACTIONS["people.view"]
MANAGE = ACTIONS["people.manage"]


@role_required(VIEW)
def overview(request: HttpRequest) -> HttpResponse:
    latest = selectors.lifecycle_latest()
    context = {"run_form": RunForm()}
    if latest is not None:
        item, document = latest
        context.update(item=item, document=document, grid=selectors.lifecycle_grid(document))
    return render(request, "people/overview.html", context)


@require_POST
@role_required(MANAGE)
def run(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("people:overview")
    try:
        item = lifecycle_run(user=request.user, **form.cleaned_data)
    except PeopleError as exc:
        for message in exc.errors.values():
            messages.error(request, message)
    else:
        messages.success(request, f"Leaver test run: evidence #{item.seq} added to the chain.")
    return redirect("people:overview")


@role_required(MANAGE)
def mappings(request: HttpRequest) -> HttpResponse:
    declaration_form = DeclarationForm(prefix="d")
    alias_form = AliasForm(prefix="a")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "declare":
                declaration_form = DeclarationForm(request.POST, prefix="d")
                if declaration_form.is_valid():
                    declaration_save(user=request.user, **declaration_form.cleaned_data)
                    messages.success(request, "The account's declaration is saved.")
                    return redirect("people:mappings")
            elif action == "alias":
                alias_form = AliasForm(request.POST, prefix="a")
                if alias_form.is_valid():
                    alias_save(user=request.user, **alias_form.cleaned_data)
                    messages.success(request, "The alias is saved.")
                    return redirect("people:mappings")
            elif (
                action in ("delete_declaration", "delete_alias")
                and request.POST.get("pk", "").isdigit()
            ):
                remove = declaration_delete if action == "delete_declaration" else alias_delete
                remove(pk=int(request.POST["pk"]), user=request.user)
                messages.success(request, "Removed.")
                return redirect("people:mappings")
            else:
                messages.error(request, "Nothing was changed: unknown request.")
        except PeopleError as exc:
            form = declaration_form if action == "declare" else alias_form
            for field, message in exc.errors.items():
                if field in form.fields:
                    form.add_error(field, message)
                else:
                    messages.error(request, message)
        status = 400
    context = {
        "declaration_form": declaration_form,
        "alias_form": alias_form,
        "declarations": AccountDeclaration.objects.all(),
        "aliases": PersonAlias.objects.all(),
    }
    return render(request, "people/mappings.html", context, status=status)


@role_required(MANAGE)
def upload(request: HttpRequest) -> HttpResponse:
    connections = selectors.hr_connections()
    form = UploadForm(request.POST or None, request.FILES or None, connections=connections)
    lines: list[tuple[int, str]] = []
    if request.method == "POST" and form.is_valid():
        connection = form.connections[form.cleaned_data["connection"]]
        upload_file = form.cleaned_data["file"]
        try:
            item = hr_upload(connection=connection, filename=upload_file.name,
                             data=upload_file.read(), user=request.user)  # fmt: skip
        except PeopleError as exc:
            lines = exc.lines
            for message in exc.errors.values():
                form.add_error(None, message)
        else:
            messages.success(request, f"{item.row_count} people stored as evidence #{item.seq}.")
            return redirect("people:overview")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "lines": lines, "connections": connections}
    return render(request, "people/upload.html", context, status=status)


@require_POST
@role_required(MANAGE)
def review(request: HttpRequest) -> HttpResponse:
    form = ReviewForm(request.POST)
    connection = None
    if form.is_valid():
        connection = Connection.objects.filter(pk=form.cleaned_data["connection"]).first()
    if connection is None:
        messages.error(request, "Choose a system, a campaign name and a due date.")
        return redirect("people:overview")
    try:
        campaign = review_start(connection=connection, name=form.cleaned_data["name"],
                                due_on=form.cleaned_data["due_on"], user=request.user)  # fmt: skip
    except PeopleError as exc:
        for message in exc.errors.values():
            messages.error(request, message)
        return redirect("people:overview")
    messages.success(request, f"Campaign “{campaign.name}” started on "
                     f"{campaign.snapshot_count} account(s).")  # fmt: skip
    return redirect("reviews:campaign_detail", campaign.pk)
