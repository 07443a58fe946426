from __future__ import annotations

from django.urls import path

from pixaudit.commitments import views

app_name = "commitments"

urlpatterns = [
    path("", views.commitment_list, name="list"),
    path("trust-page/", views.trust_page_toggle, name="trust_page_toggle"),
    path("trust-page/preview/", views.trust_page_preview, name="trust_page_preview"),
    path("<slug:key>/", views.commitment_detail, name="detail"),
]

#: Mounted at /trust/ by the project's urls (public, opt-in).
trust_urlpatterns = [path("", views.trust_page, name="trust_page")]
