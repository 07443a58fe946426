from __future__ import annotations

from django.urls import path

from pixaudit.manualevidence import views

app_name = "manualevidence"

urlpatterns = [
    path("", views.manual_list, name="list"),
    path("upload/", views.manual_upload, name="upload"),
    path("<int:pk>/", views.manual_detail, name="detail"),
    path("<int:pk>/download/", views.manual_download, name="download"),
    path("requirements/", views.requirement_add, name="requirement_add"),
    path("requirements/<int:pk>/remove/", views.requirement_remove, name="requirement_remove"),
]
