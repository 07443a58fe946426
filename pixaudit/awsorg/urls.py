from __future__ import annotations

from django.urls import path

from pixaudit.awsorg import views

app_name = "awsorg"

urlpatterns = [
    path("", views.integration_list, name="list"),
    path("new/", views.integration_create, name="create"),
    path("<int:pk>/", views.integration_detail, name="detail"),
    path("<int:pk>/edit/", views.integration_edit, name="edit"),
    path("<int:pk>/test/", views.integration_test, name="test"),
    path("<int:pk>/run/", views.integration_run, name="run"),
    path("<int:pk>/template.json", views.integration_template, name="template"),
    path("<int:pk>/stackset.json", views.integration_stackset, name="stackset"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
]
