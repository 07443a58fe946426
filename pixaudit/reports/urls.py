from __future__ import annotations

from django.urls import path

from pixaudit.reports import views, views_scope

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/status.json", views.report_status, name="status"),
    path("<int:pk>/report.pdf", views.report_download, name="download"),
    path("<int:pk>/preview/", views.report_preview, name="preview"),
    path("<int:pk>/packs/", views.report_pack, name="pack"),
    path("packs/<int:pk>/", views.pack_detail, name="pack_detail"),
    path("packs/<int:pk>/status.json", views.pack_status, name="pack_status"),
    path("packs/<int:pk>/evidence-pack.zip", views.pack_download, name="pack_download"),
    path("signing-key/", views.signing_key_page, name="signing_key"),
    path("signing-key.pem", views.signing_key_pem, name="signing_key_pem"),
    path("scope/<slug:framework_key>/", views_scope.scope_edit, name="scope"),
    path("narratives/<slug:framework_key>/", views_scope.narrative_list, name="narratives"),
    path(
        "narratives/<slug:framework_key>/<str:ref>/",
        views_scope.narrative_edit,
        name="narrative_edit",
    ),
]
