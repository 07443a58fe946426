from __future__ import annotations

from django.urls import path

from pixaudit.exceptions import views

app_name = "exceptions"

urlpatterns = [
    path("", views.register, name="register"),
    path("export.<str:fmt>", views.export, name="export"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.update, name="update"),
    path("<int:pk>/accept/", views.acceptance_request, name="acceptance_request"),
    path("acceptances/<int:pk>/decide/", views.acceptance_decide, name="acceptance_decide"),
    path("acceptances/<int:pk>/revoke/", views.acceptance_revoke, name="acceptance_revoke"),
    path("engagement/<int:pk>/", views.engagement_register, name="engagement_register"),
    path(
        "engagement/<int:pk>/export.<str:fmt>", views.engagement_export, name="engagement_export"
    ),  # fmt: skip
]
