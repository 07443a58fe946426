from __future__ import annotations

from django.urls import path

from pixaudit.controls import views

app_name = "controls"

urlpatterns = [
    path("", views.framework_list, name="framework_list"),
    path("<slug:framework_key>/", views.framework_detail, name="framework_detail"),
    path("<slug:framework_key>/<str:ref>/", views.control_detail, name="control_detail"),
]
