"""Write endpoints: push evidence, start a run, upload manual evidence, answer an evidence
request, record access-review decisions. Each calls the same service as the page, which
audit-logs it; the token's identity is added to every event (``auditlog.context``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from pixaudit.api import serializers as s
from pixaudit.api.problems import ProblemException
from pixaudit.api.push import (
    NotAPushCollector,
    PushConnectionMismatch,
    PushConnectionNotFound,
    PushRejected,
    evidence_push,
    push_collector,
    push_connection,
)
from pixaudit.api.views_base import ApiView, QueryReader
from pixaudit.api.views_read import ManualEvidenceList
from pixaudit.audits.models import EvidenceRequest
from pixaudit.audits.selectors import engagement_evidence_list, engagement_list_for_user
from pixaudit.audits.services import evidence_request_answer
from pixaudit.dashboard.services import connection_run_now
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.services.manual import ManualEvidenceError, manual_evidence_upload
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    CollectorIsAppRegister,
    ConnectionIsPushed,
)
from pixaudit.evidence.storage import ArtifactStoreError, ArtifactTooLarge
from pixaudit.reviews.models import Campaign
from pixaudit.reviews.services.campaigns import ReviewError, entries_decide

WRITE_EVIDENCE = "write:evidence"
#: The largest id a database key holds (a larger one is a 400, never a database error).
MAX_ID = 2**63 - 1


class PushView(ApiView):
    """Push rows of a push collector (``ci_deployments``, ``restore_tests``, plugins).

    The rows are checked against the collector's declared columns (every problem is named in
    ``errors``, nothing is stored), the assertions are evaluated here, and one evidence item
    is appended to the chain with the token and the CI metadata in its provenance.

    ``?connection=<id or name>`` names a push connection of the collector (created on the
    connections page): the push replaces that connection's current state only, so several
    repositories or systems keep theirs side by side. Without it, the push replaces the
    collector's connection-less current state, or, with a token restricted to a push
    connection, that connection's.
    """

    access = {"POST": (WRITE_EVIDENCE, "evidence.push")}
    push_endpoint = True  # the one endpoint a token restricted to a push connection may call
    serializer_class = s.PushSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        request=s.PushSerializer,
        parameters=[
            OpenApiParameter(
                "connection", OpenApiTypes.STR,
                description="A push connection of this collector, by id or exact name: the "
                "push replaces that connection's current state only. Omitted: the collector's "
                "connection-less current state. Unknown: 404; another collector's or a "
                "disabled connection: 400.",
            ),
        ],
        responses={201: s.PushResultSerializer, 422: OpenApiResponse(description="Rejected rows")},
    )  # fmt: skip
    def post(self, request, key: str):
        query = QueryReader(request)
        ref = query.str("connection", max_length=200)
        query.done()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        rows = data["rows"] if "rows" in data else [data["document"]]
        try:
            push_collector(key)
            connection = None if ref is None else push_connection(collector_key=key, ref=ref)
            connection = self._restricted(request.auth, key, connection)
            item = evidence_push(collector_key=key, rows=rows, token=request.auth,
                                 metadata=dict(data.get("metadata") or {}),
                                 connection=connection, request=request._request)  # fmt: skip
        except NotAPushCollector as exc:
            raise Http404(str(exc)) from None
        except PushConnectionNotFound as exc:
            raise ProblemException(
                404, str(exc), [{"field": "connection", "detail": str(exc)}]
            ) from None
        except PushConnectionMismatch as exc:
            raise ProblemException(
                400, str(exc), [{"field": "connection", "detail": str(exc)}]
            ) from None
        except PushRejected as exc:
            errors = [{"row": p["row"], "field": p["column"], "detail": p["detail"]}
                      for p in exc.problems]  # fmt: skip
            more = f" (the first {len(errors)} are listed)" if exc.count > len(errors) else ""
            raise ProblemException(
                422,
                f"{exc.count} problem(s) in the pushed rows{more}; nothing was stored.",
                errors,
            ) from None
        except ArtifactTooLarge as exc:
            raise ProblemException(413, f"{exc}; nothing was stored.") from None
        except ArtifactStoreError as exc:
            raise ProblemException(503, str(exc)) from None
        counts = {"pass": 0, "fail": 0, "warn": 0, "error": 0}
        for status in item.findings.values_list("status", flat=True):
            counts[status] += 1
        result = {"evidence": item, "findings": counts}
        return Response(s.PushResultSerializer(result).data, status=201)

    @staticmethod
    def _restricted(token, key: str, connection):
        """A token restricted to a push connection pushes there (and nowhere else)."""
        only = token.push_connection
        if only is None:
            return connection
        if connection is not None and connection.pk != only.pk:
            raise ProblemException(
                403,
                f"This token only pushes to connection {only.name!r} (id {only.pk}), "
                f"not {connection.name!r}.",
                [{"field": "connection", "detail": f"Only {only.name!r}."}],
            )
        return push_connection(collector_key=key, ref=str(only.pk))


class RunStart(ApiView):
    """Start a run of the connection now (queued for a worker), like "Run now"."""

    access = {"POST": ("write:runs", "runs.start")}
    serializer_class = s.RunStartSerializer

    @extend_schema(request=None, responses={202: s.RunSerializer})
    def post(self, request, pk: int):
        connection = get_object_or_404(Connection, pk=pk)
        try:
            run = connection_run_now(connection=connection, user=request.user,
                                     request=request._request)  # fmt: skip
        except CollectionRunActive:
            raise ProblemException(409, "A run of this connection is already active.") from None
        except (ConnectionIsPushed, CollectorIsAppRegister) as exc:
            raise ProblemException(409, f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
        return Response(s.RunSerializer(run).data, status=202)


class ManualEvidenceView(ManualEvidenceList):
    """Manual evidence: list (GET), or upload (multipart POST) with the page's checks."""

    access = {"GET": ("read", "manual_evidence.view"), "POST": (WRITE_EVIDENCE, "evidence.upload")}
    parser_classes = [MultiPartParser]

    def get_serializer_class(self):
        if self.request is not None and self.request.method == "POST":
            return s.ManualUploadSerializer
        return s.ManualEvidenceSerializer

    @extend_schema(request={"multipart/form-data": s.ManualUploadSerializer},
                   responses={201: s.ManualEvidenceSerializer})  # fmt: skip
    def post(self, request):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            manual = manual_evidence_upload(
                upload=data["file"], file_name=data["file"].name, title=data["title"],
                effective_on=data["effective_on"], valid_until=data.get("valid_until"),
                recurrence=data.get("recurrence") or "", control_addresses=data["controls"],
                user=request.user, kind=data.get("kind") or "other",
                description=data.get("description") or "",
            )  # fmt: skip
        except ManualEvidenceError as exc:
            raise serializers.ValidationError(exc.errors) from None
        return Response(s.ManualEvidenceSerializer(manual).data, status=201)


class AnswerSerializer(serializers.Serializer):
    note = serializers.CharField(allow_blank=True, default="", max_length=10_000)
    evidence = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), default=list, max_length=500
    )


class EvidenceRequestAnswer(ApiView):
    """Answer an auditor's evidence request with a note and in-window evidence."""

    access = {"POST": (WRITE_EVIDENCE, "evidence_requests.answer")}
    serializer_class = AnswerSerializer

    @extend_schema(responses={200: OpenApiResponse(description="The request's new status")})
    def post(self, request, pk: int, request_pk: int):
        engagement = engagement_list_for_user(user=request.user).filter(pk=pk).first()
        if engagement is None:
            raise Http404("No such engagement, or no access to it.")
        evidence_request = get_object_or_404(EvidenceRequest, engagement=engagement, pk=request_pk)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["evidence"]
        items = list(EvidenceItem.objects.filter(pk__in=ids))
        missing = sorted(set(ids) - {i.pk for i in items})
        if missing:
            raise serializers.ValidationError({"evidence": f"No evidence item(s) {missing}."})
        try:
            answered = evidence_request_answer(
                evidence_request=evidence_request, actor=request.user,
                note=body.validated_data["note"], evidence_items=items, request=request._request,
            )  # fmt: skip
        except DjangoValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise ProblemException(409, " ".join(exc.messages)) from None
            raise
        in_window = engagement_evidence_list(engagement=engagement).filter(pk__in=ids).count()
        return Response({"id": answered.pk, "status": answered.status, "evidence": in_window})


class DecisionSerializer(serializers.Serializer):
    entry = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    decision = serializers.ChoiceField(choices=["keep", "revoke", "modify"])
    note = serializers.CharField(allow_blank=True, default="", max_length=2000)


class DecisionsSerializer(serializers.Serializer):
    decisions = DecisionSerializer(many=True, allow_empty=False, max_length=5000)


class ReviewDecisions(ApiView):
    """Record access-review decisions (all or nothing), as an assigned reviewer or manager."""

    access = {"POST": (WRITE_EVIDENCE, "reviews.decide")}
    serializer_class = DecisionsSerializer

    @extend_schema(responses={200: OpenApiResponse(description="How many entries changed")})
    def post(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        decisions = {d["entry"]: (d["decision"], d["note"])
                     for d in body.validated_data["decisions"]}  # fmt: skip
        try:
            changed = entries_decide(campaign=campaign, decisions=decisions, user=request.user)
        except ReviewError as exc:
            if set(exc.errors) == {"__all__"}:
                raise ProblemException(409, str(exc)) from None
            raise serializers.ValidationError({"decisions": exc.errors}) from None
        return Response({"changed": changed})
