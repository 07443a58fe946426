from __future__ import annotations

from django.urls import path

from pixaudit.vendors import views

app_name = "vendors"

urlpatterns = [
    path("", views.vendor_list, name="list"),
    path("new/", views.vendor_create, name="create"),
    path("import/", views.register_import_view, name="import"),
    path("export/<str:fmt>/", views.register_export, name="export"),
    path("public-list/", views.public_list_toggle, name="public_list"),
    path("<int:pk>/", views.vendor_detail, name="detail"),
    path("<int:pk>/edit/", views.vendor_edit, name="edit"),
    path("<int:pk>/delete/", views.vendor_delete_view, name="delete"),
    path("<int:pk>/files/", views.vendor_upload, name="upload"),
    path("<int:pk>/files/<int:file_pk>/", views.file_download, name="file_download"),
    path("<int:pk>/incidents/", views.incident_add_view, name="incident_add"),
    path(
        "<int:pk>/incidents/<int:incident_pk>/handled/",
        views.incident_handle_view,
        name="incident_handle",
    ),
]
