from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from pixaudit.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.PixauditLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("mfa/", views.mfa_settings, name="mfa_settings"),
    path("mfa/enrol/", views.mfa_enrol, name="mfa_enrol"),
    path("mfa/verify/", views.mfa_verify, name="mfa_verify"),
    path(
        "mfa/recovery-codes/",
        views.mfa_recovery_codes_regenerate,
        name="mfa_recovery_codes_regenerate",
    ),
]
