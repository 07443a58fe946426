"""``/api/``: the REST API (``v1/``, token authentication) and its pages (session)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.settings import api_settings

from pixaudit.api import views_packs as packs
from pixaudit.api import views_pages as pages
from pixaudit.api import views_read as r
from pixaudit.api import views_reports as reports
from pixaudit.api import views_write as w
from pixaudit.api.views_base import ApiMixin

app_name = "api"


class SchemaView(ApiMixin, SpectacularAPIView):
    """The live OpenAPI 3 schema (any role, a token with the read scope)."""

    access = {"GET": ("read", "api.use")}
    authentication_classes = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    permission_classes = api_settings.DEFAULT_PERMISSION_CLASSES
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES


urlpatterns = [
    path("v1/schema/", SchemaView.as_view(), name="schema"),
    path("v1/frameworks/", r.FrameworkList.as_view(), name="framework_list"),
    path("v1/frameworks/<slug:key>/controls/", r.FrameworkControls.as_view(),
         name="framework_controls"),
    path("v1/frameworks/<slug:key>/coverage/", r.FrameworkCoverage.as_view(),
         name="framework_coverage"),
    path("v1/findings/", r.FindingList.as_view(), name="finding_list"),
    path("v1/evidence/", r.EvidenceList.as_view(), name="evidence_list"),
    path("v1/evidence/<int:pk>/", r.EvidenceDetail.as_view(), name="evidence_detail"),
    path("v1/evidence/<int:pk>/artifact/", r.EvidenceArtifact.as_view(),
         name="evidence_artifact"),
    path("v1/runs/", r.RunList.as_view(), name="run_list"),
    path("v1/runs/<int:pk>/", r.RunDetail.as_view(), name="run_detail"),
    path("v1/connections/", r.ConnectionList.as_view(), name="connection_list"),
    path("v1/connections/<int:pk>/", r.ConnectionDetail.as_view(), name="connection_detail"),
    path("v1/connections/<int:pk>/runs/", w.RunStart.as_view(), name="connection_run"),
    path("v1/manual-evidence/", w.ManualEvidenceView.as_view(), name="manual_evidence"),
    path("v1/engagements/", r.EngagementList.as_view(), name="engagement_list"),
    path("v1/engagements/<int:pk>/evidence/", r.EngagementEvidence.as_view(),
         name="engagement_evidence"),
    path("v1/engagements/<int:pk>/evidence/<int:evidence_pk>/artifact/",
         r.EngagementArtifact.as_view(), name="engagement_artifact"),
    path("v1/engagements/<int:pk>/requests/<int:request_pk>/answer/",
         w.EvidenceRequestAnswer.as_view(), name="request_answer"),
    path("v1/reviews/<int:pk>/decisions/", w.ReviewDecisions.as_view(), name="review_decisions"),
    path("v1/audit-log/", r.AuditLogList.as_view(), name="audit_log"),
    path("v1/commitments/", r.CommitmentList.as_view(), name="commitment_list"),
    path("v1/push/<slug:key>/", w.PushView.as_view(), name="push"),
    path("v1/reports/", reports.ReportList.as_view(), name="report_list"),
    path("v1/reports/<int:pk>/", reports.ReportDetail.as_view(), name="report_detail"),
    path("v1/reports/<int:pk>/pdf/", reports.ReportPdf.as_view(), name="report_pdf"),
    path("v1/reports/<int:pk>/packs/", packs.ReportPacks.as_view(), name="report_packs"),
    path("v1/pack-builds/<int:pk>/", packs.PackBuildDetail.as_view(), name="pack_build_detail"),
    path("v1/pack-builds/<int:pk>/download/", packs.PackBuildDownload.as_view(),
         name="pack_build_download"),
    # Pages (session sign-in).
    path("v1/reference/", pages.reference, name="reference"),
    path("v1/reference/openapi.json", pages.reference_schema, name="reference_schema"),
    path("tokens/", pages.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", pages.token_revoke_view, name="token_revoke"),
]  # fmt: skip
