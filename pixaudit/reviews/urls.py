from __future__ import annotations

from django.urls import path

from pixaudit.reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_create, name="campaign_create"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/decide/", views.campaign_decide, name="campaign_decide"),
    path("<int:pk>/assign/", views.campaign_assign, name="campaign_assign"),
    path("<int:pk>/complete/", views.campaign_complete_view, name="campaign_complete"),
    path("<int:pk>/cancel/", views.campaign_cancel_view, name="campaign_cancel"),
    path("<int:pk>/snapshot.json", views.campaign_snapshot, name="campaign_snapshot"),
]
