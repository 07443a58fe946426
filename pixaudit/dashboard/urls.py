from __future__ import annotations

from django.urls import path

from pixaudit.dashboard import views, views_coverage, views_ops

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("frameworks/<slug:framework_key>/", views.overview, name="overview"),
    path(
        "frameworks/<slug:framework_key>/coverage/",
        views_coverage.framework_coverage_page,
        name="framework_coverage",
    ),
    path("controls/", views.control_list, name="control_list"),
    path("controls/<slug:framework_key>/<str:ref>/", views.control_detail, name="control_detail"),
    path(
        "controls/<slug:framework_key>/<str:ref>/owner/", views.control_owner, name="control_owner"
    ),
    path("connections/", views_ops.connection_list, name="connection_list"),
    path("connections/new/", views_ops.connection_create_view, name="connection_create"),
    path("connections/<int:pk>/edit/", views_ops.connection_edit_view, name="connection_edit"),
    path("connections/<int:pk>/run/", views_ops.connection_run, name="connection_run"),
    path("runs/", views_ops.run_list, name="run_list"),
    path("runs/<int:pk>/", views_ops.run_detail, name="run_detail"),
    path("runs/<int:pk>/status.json", views_ops.run_status, name="run_status"),
    path("evidence/", views_ops.evidence_list, name="evidence_list"),
    path("evidence/<int:pk>/", views_ops.evidence_detail, name="evidence_detail"),
    path("evidence/<int:pk>/artifact.json", views_ops.evidence_artifact, name="evidence_artifact"),
    path("evidence/<int:pk>/verify/", views_ops.evidence_verify, name="evidence_verify"),
    path("soa/", views_ops.soa_list, name="soa_list"),
    path("soa/<slug:framework_key>/<str:ref>/", views_ops.soa_edit, name="soa_edit"),
]
