from __future__ import annotations

from django.urls import path

from pixaudit.people import views

app_name = "people"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("run/", views.run, name="run"),
    path("mappings/", views.mappings, name="mappings"),
    path("hr-upload/", views.upload, name="hr_upload"),
    path("review/", views.review, name="review"),
]
