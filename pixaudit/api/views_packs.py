"""Evidence pack endpoints: request a build of a rendered report's pack, follow it, download
the stored ZIP.

The same rules as the site's pack pages (``pixaudit.reports.views.report_pack``,
``pack_status``, ``pack_download``): only admins and compliance managers build and download
packs (action ``packs.download``; requesting a build also needs the ``write:reports``
scope), only a report's internal builds are served (an engagement's build carries a PDF
stamped for its requester and stays on the engagement page), and the same services decide:
``services_packs.pack_build_request`` queues the build on the ``reports`` queue (the same
person's build still queued or running is returned instead of a second one),
``pack_build_retry`` builds a failed one again, ``pack_build_open`` serves the stored file
(refusing one that changed since it was built), and the retention sweep's message says what
happened to a removed file. The same audit events are recorded (``pack.build_requested``,
``pack.downloaded``, with the token added by ``auditlog.context``).

Auditors get packs through their engagement's page (stamped with their name) and engineers
not at all (as on the site); both are refused with a 403 that says so.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from pixaudit.accounts.models import Role
from pixaudit.api.downloads import not_modified, with_digest
from pixaudit.api.problems import ProblemException
from pixaudit.api.serializers_packs import (
    PackBuildSerializer,
    PackRequestSerializer,
    packs_path,
    swept_sentence,
)
from pixaudit.api.views_base import ApiList, ApiRetrieve, ApiView
from pixaudit.api.views_reports import AUDITOR_REFUSAL, READ, WRITE_REPORTS
from pixaudit.auditlog.services import audit_log_record
from pixaudit.reports.models import (
    PackAudience,
    PackBuild,
    PackBuildStatus,
    Report,
    ReportStatus,
)
from pixaudit.reports.packs import PackUnavailable
from pixaudit.reports.services import report_log_details
from pixaudit.reports.services_packs import (
    pack_build_log_details,
    pack_build_open,
    pack_build_request,
    pack_build_retry,
)

#: Why an engineer's token is refused (they hold ``read``, so the scope check passes).
ENGINEER_REFUSAL = (
    "Evidence packs are built and downloaded by admins and compliance managers, as on the "
    "site. Engineers download a report's PDF: GET /api/v1/reports/<id>/pdf/."
)
_ROLE_REFUSALS = {Role.AUDITOR.value: AUDITOR_REFUSAL, Role.ENGINEER.value: ENGINEER_REFUSAL}
PACKS = "packs.download"


def _builds():
    """A report's internal builds with what a build's body shows, in one query."""
    return PackBuild.objects.filter(audience=PackAudience.INTERNAL).select_related(
        "report__framework", "requested_by"
    )


def _report(pk: int) -> Report:
    report = Report.objects.select_related("framework").filter(pk=pk).first()
    if report is None:
        raise exceptions.NotFound(f"No report with id {pk}.")
    return report


def _require_rendered(report: Report) -> None:
    """409 unless the report rendered: a pack holds the stored PDF and its pinned evidence."""
    if report.status in (ReportStatus.QUEUED, ReportStatus.RUNNING):
        raise ProblemException(
            409,
            f"Report {report.pk} is not rendered yet ({report.status}, {report.progress}%): "
            f"its evidence pack can be built once it is; poll GET /api/v1/reports/"
            f"{report.pk}/ until its status is succeeded.",
        )
    if report.status == ReportStatus.FAILED:
        why = report.error_message or "no message recorded"
        raise ProblemException(
            409,
            f"Report {report.pk} failed ({why}), so it has no evidence pack; request a new "
            "report with POST /api/v1/reports/ and build the pack of that one.",
        )


class ReportPacks(ApiList):
    """A report's evidence pack builds, newest first (GET); build its pack (POST).

    POST answers 202 at once with the queued build; poll its ``url`` until ``active`` is
    false, then download ``download_url``. Your own build of this pack still queued or running
    is returned instead (200), as the site's "Build the evidence pack" does.
    """

    access = {"GET": (READ, PACKS), "POST": (WRITE_REPORTS, PACKS)}
    role_refusals = _ROLE_REFUSALS
    parser_classes = [JSONParser]

    def get_serializer_class(self):
        if self.request is not None and self.request.method == "POST":
            return PackRequestSerializer
        return PackBuildSerializer

    @extend_schema(responses=PackBuildSerializer(many=True))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        report = _report(self.kwargs["pk"])
        return _builds().filter(report=report)

    @extend_schema(
        request=PackRequestSerializer,
        responses={
            202: OpenApiResponse(PackBuildSerializer, "Queued; Location is the build's url."),
            200: OpenApiResponse(
                PackBuildSerializer,
                "Your build of this pack already queued or running (nothing new queued).",
            ),
            409: OpenApiResponse(None, "The report is not rendered: queued, running or failed."),
        },
    )
    def post(self, request, pk: int):
        body = PackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = _report(pk)
        _require_rendered(report)
        retry_of = body.validated_data.get("retry_of")
        if retry_of is not None:
            failed = _builds().filter(pk=retry_of, report=report).first()
            if failed is None:
                raise serializers.ValidationError(
                    {"retry_of": [f"Report {report.pk} has no pack build {retry_of}."]}
                )
            if failed.status != PackBuildStatus.FAILED:
                raise serializers.ValidationError({"retry_of": [
                    f"Pack build {retry_of} has not failed (it is {failed.status}): only a "
                    "failed build is built again; leave retry_of out to build a new pack."
                ]})  # fmt: skip
            build, queued = pack_build_retry(build=failed, requested_by=request.user)
        else:
            build, queued = pack_build_request(
                report=report, requested_by=request.user, audience=PackAudience.INTERNAL
            )
        if queued:  # as reports.views.report_pack: a build already under way is not logged again
            audit_log_record(action="pack.build_requested", obj=report, request=request._request,
                             **report_log_details(report, pack_build_id=build.pk))  # fmt: skip
        build = _builds().get(pk=build.pk)
        payload = PackBuildSerializer(build, context={"request": request}).data
        return Response(
            payload, status=202 if queued else 200, headers={"Location": payload["url"]}
        )


class PackBuildDetail(ApiRetrieve):
    """One build: status and progress while it builds; once built, the ZIP's size, SHA-256
    and manifest SHA-256, and ``download_url``; once swept by retention, ``swept_message``."""

    access = {"GET": (READ, PACKS)}
    role_refusals = _ROLE_REFUSALS
    serializer_class = PackBuildSerializer

    def get_queryset(self):
        return _builds()


class PackBuildDownload(ApiView):
    """The stored ZIP, byte for byte what ``sha256`` covers (``ETag`` too, ``If-None-Match``
    → 304). 409 while it builds or when it failed, 410 once swept by retention. Each download
    is audit-logged (``pack.downloaded``)."""

    access = {"GET": (READ, PACKS)}
    role_refusals = _ROLE_REFUSALS
    serializer_class = None

    def get_queryset(self):
        return _builds()

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, "The stored ZIP."),
            304: OpenApiResponse(None, "Not modified (If-None-Match matched the ETag)."),
            409: OpenApiResponse(None, "Not built: queued, running or failed."),
            410: OpenApiResponse(None, "The retention sweep removed the file: build again."),
        }
    )
    def get(self, request, pk: int):
        build = self.get_object()
        if build.active:
            raise ProblemException(
                409,
                f"Pack build {build.pk} is not built yet ({build.status}, {build.progress}%): "
                f"poll GET /api/v1/pack-builds/{build.pk}/ until its status is succeeded.",
            )
        if build.status == PackBuildStatus.FAILED:
            why = build.error_message or "no message recorded"
            raise ProblemException(
                409,
                f"Pack build {build.pk} failed and has no file ({why.rstrip('.')}); build it "
                f'again with POST {packs_path(build.report_id)} {{"retry_of": {build.pk}}}.',
            )
        if build.swept_at is not None:
            raise ProblemException(410, swept_sentence(build))
        unchanged = not_modified(request, build.sha256)
        if unchanged is not None:
            return unchanged
        try:
            fh = pack_build_open(build=build)
        except PackUnavailable as exc:  # gone from storage, or changed since it was built
            message = str(exc)
            raise ProblemException(
                409,
                f"{message[:1].upper()}{message[1:]} (POST {packs_path(build.report_id)}).",
            ) from None
        audit_log_record(action="pack.downloaded", obj=build.report, request=request._request,
                         **pack_build_log_details(build))  # fmt: skip
        response = FileResponse(
            fh, as_attachment=True, filename=build.filename, content_type="application/zip"
        )
        response["X-Content-SHA256"] = build.sha256
        return with_digest(response, build.sha256)
