"""Report endpoints: list and read reports, request a render, download the rendered PDF.

The same rules as the report pages (``pixaudit.reports.views``): internal users read reports
and download PDFs, managers request them; the same services decide (``report_scope_resolve``
checks the framework, the period, the engagement and the AWS scope, ``report_request``
queues the render, ``audits.services.engagement_report_request`` queues an engagement's),
and the same audit events are recorded (``report.requested``, ``report.downloaded``, with
the token added by ``auditlog.context``). The PDF is the stored original, unstamped, as on
``/reports/``.

Auditors get reports only through their engagement's page on the site (stamped with their
name), never from ``/reports/``; these endpoints refuse them with a 403 that says so.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from pixaudit.accounts.models import Role
from pixaudit.api.downloads import not_modified, with_digest
from pixaudit.api.problems import ProblemException
from pixaudit.api.serializers_reports import ReportRequestSerializer, ReportSerializer
from pixaudit.api.views_base import ApiList, ApiRetrieve, ApiView, QueryReader
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits.selectors import engagement_list_for_user
from pixaudit.audits.services import engagement_report_request
from pixaudit.controls.models import Framework
from pixaudit.reports.models import Report, ReportStatus
from pixaudit.reports.services import (
    ReportScopeError,
    report_log_details,
    report_request,
    report_scope_resolve,
)

READ = "read"
WRITE_REPORTS = "write:reports"

#: Why an auditor's token is refused here (they hold ``read``, so the scope check passes).
AUDITOR_REFUSAL = (
    "Auditors receive reports through their engagement: open the engagement's page on the "
    "site for its report's PDF (stamped with your name) and its evidence pack. The reports "
    "API is for internal users."
)
_ROLE_REFUSALS = {Role.AUDITOR.value: AUDITOR_REFUSAL}


def _reports():
    """Reports with what a list shows in one query: the pin's summary, never its ids."""
    return Report.objects.select_related("framework", "created_by", "evidence_pin").defer(
        "evidence_pin__evidence_ids", "evidence_pin__aws_excluded_connections"
    )


def scope_error_field(message: str) -> str:
    """The request field a ``ReportScopeError`` is about (the report form's rule for the
    AWS fields: an OU message names ``aws_ou``, any other AWS message ``aws_account``)."""
    if message.startswith("OU "):
        return "aws_ou"
    if "AWS account" in message or message.startswith("limit the report"):
        return "aws_account"
    if message.startswith("the period"):
        return "period_end"
    if message.startswith("engagement") and "cover" not in message:
        return "engagement"
    return "framework"


def scope_error(exc: ReportScopeError) -> serializers.ValidationError:
    """The service's message as a field error, as a sentence (as the report form shows it)."""
    message = str(exc)
    return serializers.ValidationError(
        {scope_error_field(message): [message[:1].upper() + message[1:] + "."]}
    )


class ReportList(ApiList):
    """Reports, newest first (GET, internal users); request a render (POST, managers).

    POST answers 202 at once with the queued report; poll its ``url`` until ``active`` is
    false, then download ``pdf_url``. With an ``engagement`` whose report of the same
    framework and AWS scope is already queued or running, that report is returned (200).
    """

    access = {"GET": (READ, "reports.view"), "POST": (WRITE_REPORTS, "reports.create")}
    role_refusals = _ROLE_REFUSALS
    parser_classes = [JSONParser]

    def get_serializer_class(self):
        if self.request is not None and self.request.method == "POST":
            return ReportRequestSerializer
        return ReportSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("framework", str, description="A framework key, e.g. soc2-2017."),
            OpenApiParameter("status", str, enum=ReportStatus.values),
            OpenApiParameter("engagement", int, description="An engagement's reports."),
        ],
        responses=ReportSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        read = QueryReader(self.request)
        framework = read.str("framework", max_length=100)
        status = read.str("status", max_length=16)
        engagement = read.int("engagement")
        if status is not None and status not in ReportStatus.values:
            read.error("status", f"One of: {', '.join(ReportStatus.values)}.")
        if framework is not None and not Framework.objects.filter(key=framework).exists():
            loaded = ", ".join(Framework.objects.order_by("key").values_list("key", flat=True))
            read.error("framework", f"No framework {framework!r} (loaded: {loaded or 'none'}).")
        read.done()
        qs = _reports()
        if framework is not None:
            qs = qs.filter(framework__key=framework)
        if status is not None:
            qs = qs.filter(status=status)
        if engagement is not None:
            qs = qs.filter(engagement_id=engagement)
        return qs

    @extend_schema(
        request=ReportRequestSerializer,
        responses={
            202: OpenApiResponse(ReportSerializer, "Queued; Location is the report's url."),
            200: OpenApiResponse(
                ReportSerializer,
                "The engagement's report of this framework and AWS scope, already queued or "
                "running (nothing new queued).",
            ),
        },
    )
    def post(self, request):
        body = ReportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data.get("engagement") is not None:
                report, queued = self._engagement_report(request, data)
            else:
                report, queued = self._report(request, data), True
        except ReportScopeError as exc:  # nothing was created or queued
            raise scope_error(exc) from None
        report = _reports().get(pk=report.pk)
        payload = ReportSerializer(report, context={"request": request}).data
        return Response(
            payload, status=202 if queued else 200, headers={"Location": payload["url"]}
        )

    @staticmethod
    def _report(request, data) -> Report:
        """As the report page's form: resolve, queue, log ``report.requested``."""
        scope = report_scope_resolve(
            framework_key=data.get("framework"), start=data.get("period_start"),
            end=data.get("period_end"), include_privacy_register=data["include_privacy_register"],
            aws_account=data["aws_account"], aws_ou=data["aws_ou"],
        )  # fmt: skip
        report = report_request(scope=scope, created_by=request.user)
        audit_log_record(action="report.requested", obj=report, request=request._request,
                         **report_log_details(report))  # fmt: skip
        return report

    @staticmethod
    def _engagement_report(request, data) -> tuple[Report, bool]:
        """As the engagement page's "Generate the engagement report" (which logs it)."""
        pk = data["engagement"]
        engagement = engagement_list_for_user(user=request.user).filter(pk=pk).first()
        if engagement is None:
            raise serializers.ValidationError({"engagement": [f"No engagement with id {pk}."]})
        key = data.get("framework")
        if key is None:
            keys = sorted(f.key for f in engagement.frameworks.all())
            if len(keys) != 1:
                raise serializers.ValidationError({"framework": [
                    f"Engagement {pk} covers {', '.join(keys) or 'no framework'}: name one "
                    "of them in framework."
                ]})  # fmt: skip
            key = keys[0]
        scope = report_scope_resolve(
            framework_key=key, engagement_id=engagement.pk,
            aws_account=data["aws_account"], aws_ou=data["aws_ou"],
        )  # fmt: skip
        return engagement_report_request(
            engagement=engagement, framework=scope.framework, actor=request.user,
            request=request._request, aws_account=data["aws_account"], aws_ou=data["aws_ou"],
        )  # fmt: skip


class ReportDetail(ApiRetrieve):
    """One report: status and progress while it renders; once rendered, the PDF's SHA-256,
    size and page count, the pinned chain head and evidence, and ``pdf_url``."""

    access = {"GET": (READ, "reports.view")}
    role_refusals = _ROLE_REFUSALS
    serializer_class = ReportSerializer

    def get_queryset(self):
        return _reports()


class ReportPdf(ApiView):
    """The rendered PDF as stored (its SHA-256 is the report's ``sha256``; ``ETag`` too,
    ``If-None-Match`` → 304). 409 while the report is queued or running, or when it failed.
    Each download is audit-logged (``report.downloaded``)."""

    access = {"GET": (READ, "reports.download")}
    role_refusals = _ROLE_REFUSALS
    serializer_class = None

    def get_queryset(self):
        return Report.objects.select_related("framework")

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, "The stored PDF."),
            304: OpenApiResponse(None, "Not modified (If-None-Match matched the ETag)."),
            409: OpenApiResponse(None, "Not rendered: queued, running or failed."),
        }
    )
    def get(self, request, pk: int):
        report = self.get_object()
        if report.status in (ReportStatus.QUEUED, ReportStatus.RUNNING):
            raise ProblemException(
                409,
                f"Report {report.pk} is not rendered yet ({report.status}, "
                f"{report.progress}%): poll GET /api/v1/reports/{report.pk}/ until its status "
                "is succeeded.",
            )
        if report.status == ReportStatus.FAILED:
            why = report.error_message or "no message recorded"
            raise ProblemException(
                409,
                f"Report {report.pk} failed and has no PDF ({why}); request a new one with "
                "POST /api/v1/reports/.",
            )
        unchanged = not_modified(request, report.sha256)
        if unchanged is not None:
            return unchanged
        if not report.file_path or not default_storage.exists(report.file_path):
            raise Http404(f"Report {report.pk}'s PDF is missing from storage.")
        audit_log_record(action="report.downloaded", obj=report, request=request._request,
                         **report_log_details(report, sha256=report.sha256))  # fmt: skip
        response = FileResponse(
            default_storage.open(report.file_path, "rb"),
            as_attachment=True,
            filename=report.filename,
            content_type="application/pdf",
        )
        return with_digest(response, report.sha256)
