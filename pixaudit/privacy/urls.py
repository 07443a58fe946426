from __future__ import annotations

from django.urls import path

from pixaudit.privacy import views

app_name = "privacy"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("new/", views.request_new, name="create"),
    path("<int:pk>/edit/", views.request_edit, name="edit"),
    path("<int:pk>/complete/", views.request_complete_view, name="complete"),
    path("<int:pk>/evidence/", views.evidence_download, name="evidence_download"),
]
