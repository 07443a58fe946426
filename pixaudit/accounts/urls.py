from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from pixaudit.accounts import oidc, views, views_users

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
    # Users (admins): invite, role, deactivate, reset MFA; the invitation link (anyone).
    path("users/", views_users.user_list, name="user_list"),
    path("users/invite/", views_users.user_invite_view, name="user_invite"),
    path("users/<int:pk>/", views_users.user_detail, name="user_detail"),
    path("users/<int:pk>/role/", views_users.user_role, name="user_role"),
    path("users/<int:pk>/active/", views_users.user_active, name="user_active"),
    path("users/<int:pk>/mfa-reset/", views_users.user_mfa_reset, name="user_mfa_reset"),
    path(
        "users/<int:pk>/invitation/",
        views_users.user_invitation_resend_view,
        name="user_invitation_resend",
    ),
    path("invitation/<str:token>/", views_users.invitation_accept, name="invitation_accept"),
    # OpenID Connect single sign-on (404 while OIDC_RP_CLIENT_ID is unset).
    path("sso/", oidc.oidc_login, name="oidc_login"),
    path("sso/callback/", oidc.oidc_callback, name="oidc_callback"),
]
