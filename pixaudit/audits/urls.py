from __future__ import annotations

from django.urls import path

from pixaudit.audits import views, views_controls, views_requests

app_name = "audits"

urlpatterns = [
    path("", views.engagement_list, name="engagement_list"),
    path("new/", views.engagement_create, name="engagement_create"),
    path("invitation/<str:token>/", views_requests.invitation_accept, name="invitation_accept"),
    path("<int:pk>/", views.engagement_detail, name="engagement_detail"),
    path("<int:pk>/edit/", views.engagement_edit, name="engagement_edit"),
    path("<int:pk>/invite/", views.invitation_create, name="invitation_create"),
    path(
        "<int:pk>/invitations/<int:invitation_pk>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "<int:pk>/invitations/<int:invitation_pk>/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
    path("<int:pk>/report/", views.engagement_report_generate, name="report_generate"),
    path(
        "<int:pk>/reports/<int:report_pk>/report.pdf",
        views.engagement_report_pdf,
        name="report_pdf",
    ),
    path(
        "<int:pk>/reports/<int:report_pk>/packs/",
        views.engagement_report_pack,
        name="report_pack",
    ),
    path("<int:pk>/packs/<int:build_pk>/", views.engagement_pack_detail, name="pack_detail"),
    path(
        "<int:pk>/packs/<int:build_pk>/status.json",
        views.engagement_pack_status,
        name="pack_status",
    ),
    path(
        "<int:pk>/packs/<int:build_pk>/evidence-pack.zip",
        views.engagement_pack_download,
        name="pack_download",
    ),
    path("<int:pk>/evidence/", views.evidence_list, name="evidence_list"),
    path("<int:pk>/evidence/<int:evidence_pk>/", views.evidence_detail, name="evidence_detail"),
    path(
        "<int:pk>/evidence/<int:evidence_pk>/download/",
        views.evidence_download,
        name="evidence_download",
    ),
    path("<int:pk>/requests/", views_requests.request_list, name="request_list"),
    path("<int:pk>/requests/new/", views_requests.request_create, name="request_create"),
    path(
        "<int:pk>/requests/<int:request_pk>/",
        views_requests.request_detail,
        name="request_detail",
    ),
    path(
        "<int:pk>/requests/<int:request_pk>/answer/",
        views_requests.request_answer,
        name="request_answer",
    ),
    path(
        "<int:pk>/requests/<int:request_pk>/review/",
        views_requests.request_review,
        name="request_review",
    ),
    path("<int:pk>/samples/", views_requests.sample_list, name="sample_list"),
    path("<int:pk>/samples/<int:sample_pk>/", views_requests.sample_detail, name="sample_detail"),
    path(
        "<int:pk>/samples/<int:sample_pk>/results/",
        views_controls.sample_result_create,
        name="sample_result_create",
    ),
    path(
        "<int:pk>/samples/<int:sample_pk>/results/<int:result_pk>/file/",
        views_controls.sample_result_file,
        name="sample_result_file",
    ),
    path(
        "<int:pk>/samples/<int:sample_pk>/workbook.xlsx",
        views_controls.sample_workbook,
        name="sample_workbook",
    ),
    path("<int:pk>/controls/", views_controls.control_list, name="control_list"),
    path(
        "<int:pk>/controls/<slug:framework_key>/<str:ref>/",
        views_controls.control_detail,
        name="control_detail",
    ),
]
