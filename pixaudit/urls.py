from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("pixaudit.accounts.urls")),
    path("catalog/", include("pixaudit.controls.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("pixaudit.dashboard.urls")),
]
