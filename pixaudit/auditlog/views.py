"""Admin-only audit log viewer and streamed CSV export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header

from pixaudit.accounts.permissions import action_required
from pixaudit.auditlog.selectors import AuditEventFilter, audit_event_actions, audit_event_list
from pixaudit.auditlog.services import audit_log_record
from pixaudit.lib.spreadsheet import spreadsheet_text

CSV_COLUMNS = ("id", "at", "actor", "action", "object_type", "object_id", "object_repr", "ip",
               "user_agent", "details")  # fmt: skip


class FilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.CharField(required=False, max_length=150, label="User")
    object_type = forms.CharField(required=False, max_length=100, label="Object type")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Object or IP")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "All")] + [(a, a) for a in audit_event_actions()]

    def filters(self) -> AuditEventFilter:
        if not self.is_valid():
            return AuditEventFilter()
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        return AuditEventFilter(**data)


@action_required("auditlog.view")
def event_list(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    events = audit_event_list(filters=form.filters())
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "auditlog/event_list.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _safe(value: object) -> str:
    return spreadsheet_text("" if value is None else str(value))


def _csv_rows(events) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events.iterator(chunk_size=2000):
        yield writer.writerow(
            [_safe(v) for v in (e.pk, e.at.isoformat(), e.actor_repr, e.action, e.object_type,
                                e.object_id, e.object_repr, e.ip, e.user_agent)]
            + [_safe(json.dumps(e.details, sort_keys=True, default=str))]
        )  # fmt: skip


@action_required("auditlog.view")
def event_export(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    filters = form.filters()
    audit_log_record(action="auditlog.exported", request=request,
                     filters={k: str(v) for k, v in vars(filters).items() if v})  # fmt: skip
    response = StreamingHttpResponse(
        _csv_rows(audit_event_list(filters=filters)), content_type="text/csv; charset=utf-8"
    )
    name = f"pixaudit-audit-log-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
