"""Vendor register pages: list with filters, detail, create/edit, files, incidents, import,
export, and the public sub-processor list switch. Thin views over the services."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.permissions import ACTIONS, can, role_required
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.manual import max_upload_bytes
from pixaudit.manualevidence.uploads import LimitedUploadHandler
from pixaudit.vendors import register, selectors, services
from pixaudit.vendors.forms import (
    FileForm,
    FilterForm,
    HandleForm,
    ImportForm,
    IncidentForm,
    VendorForm,
)
from pixaudit.vendors.importing import export_csv, export_xlsx
from pixaudit.vendors.models import Vendor, VendorFile, VendorIncident

VIEW = ACTIONS["vendors.view"]
MANAGE = ACTIONS["vendors.manage"]
PAGE_SIZE = 100


def _apply(form, exc: services.VendorError) -> None:
    for field, message in exc.errors.items():
        form.add_error(field if field in form.fields else None, message)


def _too_big(limit: int) -> str:
    return f"The file is larger than the {limit // (1024 * 1024) or 1} MB limit."


@require_GET
@role_required(VIEW)
def vendor_list(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.vendor_list(filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    latest = selectors.register_latest()
    context = {
        "form": form, "vendors": page.object_list, "page": page, "today": timezone.localdate(),
        "can_manage": can(request.user, "vendors.manage"),
        "settings": selectors.settings_get(),
        "evidence": latest[0] if latest else None,
        "query": request.GET.urlencode(),
    }  # fmt: skip
    return render(request, "vendors/list.html", context)


@require_GET
@role_required(VIEW)
def vendor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, get_object_or_404(Vendor, pk=pk))


def _detail(request: HttpRequest, vendor: Vendor, *, status: int = 200, **forms) -> HttpResponse:
    context = {
        "vendor": vendor,
        "files": vendor.files.select_related("uploaded_by"),
        "incidents": vendor.incidents.all(),
        "results": selectors.vendor_results(vendor=vendor),
        "titles": register.TITLES,
        "today": timezone.localdate(),
        "can_manage": can(request.user, "vendors.manage"),
        "file_form": forms.get("file_form") or FileForm(),
        "incident_form": forms.get("incident_form") or IncidentForm(prefix="i"),
        "handle_form": HandleForm(initial={"handled_on": timezone.localdate()}),
        "handle_errors": forms.get("handle_errors"),
        "max_mb": max_upload_bytes() // (1024 * 1024) or 1,
    }
    return render(request, "vendors/detail.html", context, status=status)


def _edit(request: HttpRequest, vendor: Vendor | None) -> HttpResponse:
    initial = VendorForm.initial_for(vendor) if vendor else {"criticality": "medium"}
    form = VendorForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = services.vendor_save(data=form.cleaned_data, vendor=vendor,
                                             user=request.user, request=request)  # fmt: skip
            except services.VendorError as exc:
                _apply(form, exc)
            else:
                messages.success(request, f"{saved.name} is saved; the register evidence is "
                                 "updated.")  # fmt: skip
                return redirect("vendors:detail", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "vendors/edit.html", {"form": form, "vendor": vendor}, status=status)


@role_required(MANAGE)
def vendor_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@role_required(MANAGE)
def vendor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Vendor, pk=pk))


@require_POST
@role_required(MANAGE)
def vendor_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation to remove the vendor.")
        return redirect("vendors:detail", pk=pk)
    name = vendor.name
    services.vendor_delete(vendor=vendor, user=request.user, request=request)
    messages.success(request, f"{name} is removed from the register.")
    return redirect("vendors:list")


@csrf_exempt
@require_POST
@role_required(MANAGE)
def vendor_upload(request: HttpRequest, pk: int) -> HttpResponse:
    # The size limit is enforced while the body streams (as for manual evidence): the
    # handler goes first, before anything reads request.POST; CSRF is checked right after.
    limit = max_upload_bytes()
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=limit))
    return _upload(request, pk, limit)


@csrf_protect
def _upload(request: HttpRequest, pk: int, limit: int) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    form = FileForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):
        form = FileForm({"kind": request.POST.get("kind", "")}, {})
        form.is_valid()
        form.errors.pop("file", None)
        form.add_error("file", _too_big(limit))
        return _detail(request, vendor, status=413, file_form=form)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            services.vendor_file_add(vendor=vendor, kind=form.cleaned_data["kind"], upload=upload,
                                     file_name=upload.name, user=request.user,
                                     request=request)  # fmt: skip
        except services.VendorError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "File stored; the register evidence is updated.")
            return redirect("vendors:detail", pk=pk)
    return _detail(request, vendor, status=400, file_form=form)


@require_GET
@role_required(VIEW)
def file_download(request: HttpRequest, pk: int, file_pk: int) -> HttpResponse:
    record = get_object_or_404(VendorFile, pk=file_pk, vendor_id=pk)
    try:
        handle = default_storage.open(record.path, "rb")
    except FileNotFoundError:
        raise Http404("The file is no longer stored.") from None
    audit_log_record(action="vendor.file_downloaded", obj=record.vendor, request=request,
                     file_name=record.file_name, sha256=record.sha256)  # fmt: skip
    return FileResponse(handle, as_attachment=True, filename=record.file_name,
                        content_type=record.content_type)  # fmt: skip


@require_POST
@role_required(MANAGE)
def incident_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    form = IncidentForm(request.POST, prefix="i")
    if form.is_valid():
        try:
            services.incident_add(vendor=vendor, user=request.user, request=request,
                                  **form.cleaned_data)  # fmt: skip
        except services.VendorError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "Incident recorded; the register evidence is updated.")
            return redirect("vendors:detail", pk=pk)
    return _detail(request, vendor, status=400, incident_form=form)


@require_POST
@role_required(MANAGE)
def incident_handle_view(request: HttpRequest, pk: int, incident_pk: int) -> HttpResponse:
    incident = get_object_or_404(VendorIncident, pk=incident_pk, vendor_id=pk)
    form = HandleForm(request.POST)
    errors: list[str] = []
    if form.is_valid():
        try:
            services.incident_handle(incident=incident, handled_on=form.cleaned_data["handled_on"],
                                     user=request.user, request=request)  # fmt: skip
        except services.VendorError as exc:
            errors = list(exc.errors.values())
        else:
            messages.success(request, "Incident marked handled.")
            return redirect("vendors:detail", pk=pk)
    else:
        errors = ["Give the date the incident was handled (YYYY-MM-DD)."]
    return _detail(request, incident.vendor, status=400, handle_errors=errors)


@csrf_exempt
@role_required(MANAGE)
def register_import_view(request: HttpRequest) -> HttpResponse:
    limit = max_upload_bytes()
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=limit))
    return _import(request, limit)


@csrf_protect
def _import(request: HttpRequest, limit: int) -> HttpResponse:
    form = ImportForm()
    lines: list[tuple[int, str, str]] = []
    status = 200
    if request.method == "POST":
        status = 400
        form = ImportForm(request.POST, request.FILES)
        if getattr(request, "upload_too_large", False):
            form = ImportForm({}, {})
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error("file", _too_big(limit) + " Nothing was stored.")
            status = 413
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                counts = services.register_import(filename=upload.name, data=upload.read(),
                                                  user=request.user, request=request)  # fmt: skip
            except services.VendorError as exc:
                lines = exc.lines
                for message in exc.errors.values():
                    form.add_error(None, message)
            else:
                messages.success(request, f"Register imported: {counts['created']} vendor(s) "
                                 f"added, {counts['updated']} updated, "
                                 f"{counts['unchanged']} unchanged.")  # fmt: skip
                return redirect("vendors:list")
    return render(request, "vendors/import.html", {"form": form, "lines": lines}, status=status)


@require_GET
@role_required(VIEW)
def register_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "xlsx"):
        raise Http404("Export as csv or xlsx.")
    vendors = list(Vendor.objects.order_by("name"))
    data = export_csv(vendors) if fmt == "csv" else export_xlsx(vendors)
    audit_log_record(action="vendor.exported", obj="vendor register", request=request,
                     format=fmt, vendors=len(vendors))  # fmt: skip
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    content_type = "text/csv" if fmt == "csv" else xlsx
    response = HttpResponse(data, content_type=content_type)
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="vendors-{stamp}.{fmt}"'
    return response


@require_POST
@role_required(MANAGE)
def public_list_toggle(request: HttpRequest) -> HttpResponse:
    publish = request.POST.get("publish") == "on"
    services.vendor_settings_set(publish_subprocessors=publish, user=request.user,
                                 request=request)  # fmt: skip
    messages.success(request, "The sub-processor list is now public on the trust page "
                     "(when the trust page is published)." if publish else
                     "The sub-processor list is not public.")  # fmt: skip
    return redirect("vendors:list")
