"""Read endpoints: catalog and posture, findings, evidence (artifacts with ETags), runs,
connections (never secrets), manual evidence, engagements (scoped like the pages), the audit
log, commitments."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from pixaudit.api import serializers as s
from pixaudit.api.downloads import not_modified, with_digest
from pixaudit.api.views_base import (
    ApiList,
    ApiRetrieve,
    ApiView,
    QueryReader,
    query_int,
    query_str,
)
from pixaudit.auditlog.models import AuditEvent
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits.selectors import engagement_evidence_list, engagement_list_for_user
from pixaudit.commitments.selectors import commitment_states
from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.models import (
    CollectionRun,
    Connection,
    EvidenceItem,
    Finding,
    FindingStatus,
    ManualEvidence,
)
from pixaudit.evidence.storage import artifact_chunks, artifact_exists
from pixaudit.posture.coverage import framework_coverage
from pixaudit.posture.selectors import control_posture, framework_posture

READ = "read"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # REST_FRAMEWORK["DATETIME_FORMAT"], in UTC


def _time_params(field: str) -> list[OpenApiParameter]:
    return [
        OpenApiParameter("since", OpenApiTypes.DATETIME, description=f"{field} at or after "
                         "this UTC ISO 8601 time."),
        OpenApiParameter("until", OpenApiTypes.DATETIME, description=f"{field} before this "
                         "UTC ISO 8601 time."),
    ]  # fmt: skip


def _time_filter(request, qs, field: str, reader: QueryReader | None = None):
    own = reader is None
    reader = reader or QueryReader(request)
    since, until = reader.datetime("since"), reader.datetime("until")
    if own:
        reader.done()
    if since is not None:
        qs = qs.filter(**{f"{field}__gte": since})
    if until is not None:
        qs = qs.filter(**{f"{field}__lt": until})
    return qs


class FrameworkList(ApiList):
    """Frameworks of the loaded catalogs (not paginated: a handful)."""

    access = {"GET": (READ, "catalog.view")}
    serializer_class = s.FrameworkSerializer
    pagination_class = None
    queryset = Framework.objects.order_by("key")


class FrameworkControls(ApiView):
    """The framework's assessable controls with their current status."""

    access = {"GET": (READ, "posture.view")}
    serializer_class = s.ControlStatusSerializer
    pagination_class = None

    @extend_schema(responses=s.ControlStatusSerializer(many=True))
    def get(self, request, key: str):
        framework = get_object_or_404(Framework, key=key)
        posture = framework_posture(framework=framework)
        rows = [
            {
                "ref": c.control.ref,
                "address": c.control.address,
                "title": c.control.title,
                "status": c.status,
                "stale": c.stale,
                "assertion_ids": c.assertion_ids,
                "passing_results": c.passing_results,
                "failing_results": c.failing_results,
                "warning_results": c.warning_results,
                "last_collected_at": c.last_collected_at,
                "expires_at": c.expires_at,
            }  # fmt: skip
            for c in posture.controls
        ]
        return Response(s.ControlStatusSerializer(rows, many=True).data)


#: The longest coverage window one request may ask for (days).
MAX_COVERAGE_DAYS = 800


class FrameworkCoverage(ApiView):
    """Coverage over a window: one status per control per UTC day, and the counters
    (``pixaudit.posture.coverage``, the same figures as the coverage page and the report).
    Default window: the 90 days ending today (UTC)."""

    access = {"GET": (READ, "posture.view")}
    serializer_class = s.FrameworkCoverageSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (UTC)."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (UTC), inclusive."),
        ]
    )
    def get(self, request, key: str):
        framework = get_object_or_404(Framework, key=key)
        read = QueryReader(request)
        end = read.date("end") or timezone.now().astimezone(UTC).date()
        start = read.date("start") or end - timedelta(days=89)
        if start > end:
            read.error("start", "The window starts after it ends.")
        elif (end - start).days + 1 > MAX_COVERAGE_DAYS:
            read.error("start", f"At most {MAX_COVERAGE_DAYS} days per request.")
        read.done()
        result = framework_coverage(framework=framework, start=start, end=end)
        return Response(s.FrameworkCoverageSerializer(result).data)


def _control_assertions(address: str) -> list[str] | None:
    """The assertions mapped to the control ``<framework>:<ref>``, or ``None`` if unknown."""
    framework_key, _, ref = address.partition(":")
    control = Control.objects.filter(framework__key=framework_key, ref=ref).first()
    return None if control is None else control_posture(control=control).assertion_ids


_FINDING_FIELDS = ("id", "evidence_id", "run_id", "assertion_id", "resource", "status",
                   "severity", "message", "thresholds", "controls", "collected_at")  # fmt: skip


def _finding_row(row: dict) -> dict:
    """``FindingSerializer``'s shape from a ``values()`` row (the serializer costs two thirds
    of a 1,000-row page; ``benchmarks/bench_api.py``)."""
    out = dict(row)
    out["evidence"], out["run"] = out.pop("evidence_id"), out.pop("run_id")
    out["collected_at"] = row["collected_at"].astimezone(UTC).strftime(TIME_FORMAT)
    return out


class FindingList(ApiList):
    """Findings (history), newest first; every filter is optional."""

    access = {"GET": (READ, "evidence.view")}
    serializer_class = s.FindingSerializer

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset().values(*_FINDING_FIELDS))
        return self.get_paginated_response([_finding_row(row) for row in page])

    @extend_schema(
        parameters=[
            OpenApiParameter("control", str, description="e.g. soc2-2017:CC6.1"),
            OpenApiParameter("assertion", str), OpenApiParameter("resource", str),
            OpenApiParameter("status", str, enum=FindingStatus.values),
            OpenApiParameter("collector", str), OpenApiParameter("evidence", int),
            *_time_params("Collected"),
        ]
    )  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        read = QueryReader(self.request)
        qs = Finding.objects.all()
        control = read.str("control", max_length=100)
        values = {
            "assertion_id": read.str("assertion"),
            "resource": read.str("resource"),
            "evidence__collector_key": read.str("collector", max_length=100),
            "evidence_id": read.int("evidence"),
        }
        status = read.str("status", max_length=10)
        if status is not None and status not in FindingStatus.values:
            read.error("status", f"One of: {', '.join(FindingStatus.values)}.")
        since, until = read.datetime("since"), read.datetime("until")
        assertion_ids = None
        if control is not None:
            assertion_ids = _control_assertions(control)
            if assertion_ids is None:
                read.error("control", f"No control {control!r} (use <framework>:<ref>).")
        read.done()
        if assertion_ids is not None:
            qs = qs.filter(assertion_id__in=assertion_ids)
        qs = qs.filter(**{k: v for k, v in values.items() if v is not None})
        if status is not None:
            qs = qs.filter(status=status)
        if since is not None:
            qs = qs.filter(collected_at__gte=since)
        if until is not None:
            qs = qs.filter(collected_at__lt=until)
        return qs


class EvidenceList(ApiList):
    """Evidence items of the chain, newest first."""

    access = {"GET": (READ, "evidence.view")}
    serializer_class = s.EvidenceSerializer

    @extend_schema(parameters=[OpenApiParameter("collector", str), *_time_params("Collected")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = EvidenceItem.objects.all()
        collector = query_str(self.request, "collector", max_length=100)
        if collector is not None:
            qs = qs.filter(collector_key=collector)
        return _time_filter(self.request, qs, "collected_at")


class EvidenceDetail(ApiRetrieve):
    """One evidence item."""

    access = {"GET": (READ, "evidence.view")}
    serializer_class = s.EvidenceSerializer
    queryset = EvidenceItem.objects.all()


def artifact_response(request, item: EvidenceItem):
    """The artifact's canonical JSON with ``ETag`` (its SHA-256; 304 on ``If-None-Match``)
    and ``Repr-Digest``; each full download is audit-logged."""
    unchanged = not_modified(request, item.sha256)
    if unchanged is not None:
        return unchanged
    if not artifact_exists(item.artifact_path):
        raise Http404("The artifact file is missing from storage.")
    audit_log_record(action="evidence.downloaded", obj=item, request=request._request,
                     sha256=item.sha256)  # fmt: skip
    response = StreamingHttpResponse(
        artifact_chunks(item.artifact_path), content_type="application/json"
    )
    response["Content-Length"] = str(item.size)
    with_digest(response, item.sha256)
    return response


_ARTIFACT_RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, "The canonical artifact."),
    304: OpenApiResponse(None, "Not modified (If-None-Match matched the ETag)."),
}


class EvidenceArtifact(ApiView):
    """The item's artifact (canonical JSON); ``ETag`` is its SHA-256."""

    access = {"GET": (READ, "evidence.view")}
    queryset = EvidenceItem.objects.all()
    serializer_class = None

    @extend_schema(responses=_ARTIFACT_RESPONSES)
    def get(self, request, pk: int):
        return artifact_response(request, self.get_object())


class RunList(ApiList):
    """Collection runs, newest first."""

    access = {"GET": (READ, "connections.view")}
    serializer_class = s.RunSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("connection", int),
            OpenApiParameter("status", str),
            *_time_params("Queued"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = CollectionRun.objects.all()
        connection = query_int(self.request, "connection")
        if connection is not None:
            qs = qs.filter(connection_id=connection)
        status = query_str(self.request, "status", max_length=16)
        if status is not None:
            qs = qs.filter(status=status)
        return _time_filter(self.request, qs, "queued_at")


class RunDetail(ApiRetrieve):
    """One collection run."""

    access = {"GET": (READ, "connections.view")}
    serializer_class = s.RunSerializer
    queryset = CollectionRun.objects.all()


class ConnectionList(ApiList):
    """Connections; secrets are never returned (only which ones are set)."""

    access = {"GET": (READ, "connections.view")}
    serializer_class = s.ConnectionSerializer
    queryset = Connection.objects.all()


class ConnectionDetail(ApiRetrieve):
    """One connection (never its secrets)."""

    access = {"GET": (READ, "connections.view")}
    serializer_class = s.ConnectionSerializer
    queryset = Connection.objects.all()


class EngagementList(ApiList):
    """Engagements: managers see all, auditors those of their active invitations."""

    access = {"GET": (READ, "engagements.view")}
    serializer_class = s.EngagementSerializer

    def get_queryset(self):
        return engagement_list_for_user(user=self.request.user)


class EngagementEvidence(ApiList):
    """Evidence collected inside the engagement's window (as on the engagement pages)."""

    access = {"GET": (READ, "engagements.view")}
    serializer_class = s.EvidenceSerializer

    @extend_schema(parameters=[OpenApiParameter("collector", str)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        user, pk = self.request.user, self.kwargs["pk"]
        engagement = engagement_list_for_user(user=user).filter(pk=pk).first()
        if engagement is None:
            raise Http404("No such engagement, or no access to it.")
        collector = query_str(self.request, "collector", max_length=100)
        return engagement_evidence_list(engagement=engagement, collector_key=collector)


class EngagementArtifact(ApiView):
    """An in-window item's artifact, for the engagement's auditors (ETag as above)."""

    access = {"GET": (READ, "engagements.view")}
    serializer_class = None

    @extend_schema(responses=_ARTIFACT_RESPONSES)
    def get(self, request, pk: int, evidence_pk: int):
        engagement = engagement_list_for_user(user=request.user).filter(pk=pk).first()
        if engagement is None:
            raise Http404("No such engagement, or no access to it.")
        item = engagement_evidence_list(engagement=engagement).filter(pk=evidence_pk).first()
        if item is None:
            raise Http404("No such evidence in this engagement's window.")
        return artifact_response(request, item)


class ManualEvidenceList(ApiList):
    """Manual evidence uploads, newest first."""

    access = {"GET": (READ, "manual_evidence.view")}
    serializer_class = s.ManualEvidenceSerializer
    queryset = ManualEvidence.objects.select_related("owner", "uploaded_by")


class AuditLogList(ApiList):
    """The audit log (admins, with a token that has the admin scope)."""

    access = {"GET": ("admin", "auditlog.view")}
    serializer_class = s.AuditEventSerializer

    @extend_schema(parameters=[OpenApiParameter("action", str), *_time_params("Recorded")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = AuditEvent.objects.all()
        action = query_str(self.request, "action", max_length=64)
        if action is not None:
            qs = qs.filter(action=action)
        return _time_filter(self.request, qs, "at")


class CommitmentList(ApiView):
    """The policy's commitments and their current state."""

    access = {"GET": (READ, "commitments.view")}
    serializer_class = s.CommitmentStateSerializer
    pagination_class = None

    @extend_schema(responses=s.CommitmentStateSerializer(many=True))
    def get(self, request):
        return Response(s.CommitmentStateSerializer(commitment_states(), many=True).data)
