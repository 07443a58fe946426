from __future__ import annotations

from django.urls import path

from pixaudit.auditlog import views

app_name = "auditlog"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("export.csv", views.event_export, name="event_export"),
]
