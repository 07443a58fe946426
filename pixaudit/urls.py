from django.contrib import admin
from django.urls import include, path

from pixaudit.accounts import views as accounts_views
from pixaudit.auditlog.rq_dashboard import rq_dashboard_urls
from pixaudit.commitments.urls import trust_urlpatterns
from pixaudit.reports.verify import PUBLISHED_KEY_PATH
from pixaudit.reports.views import signing_key_public

urlpatterns = [
    path("accounts/", include("pixaudit.accounts.urls")),
    # The REST API (token authentication) and its pages (tokens, reference).
    path("api/", include("pixaudit.api.urls")),
    path("catalog/", include("pixaudit.controls.urls")),
    path("engagements/", include("pixaudit.audits.urls")),
    path("audit-log/", include("pixaudit.auditlog.urls")),
    # One sign-in page for everyone: throttling, lockout and MFA apply to the admin too; a
    # signed-in non-staff user gets 403 here instead of a redirect loop.
    path("admin/login/", accounts_views.admin_login),
    path("reports/", include("pixaudit.reports.urls")),
    path("reviews/", include("pixaudit.reviews.urls")),
    path("people/", include("pixaudit.people.urls")),
    path("vendors/", include("pixaudit.vendors.urls")),
    path("privacy-requests/", include("pixaudit.privacy.urls")),
    path("manual-evidence/", include("pixaudit.manualevidence.urls")),
    path("commitments/", include("pixaudit.commitments.urls")),
    path("exceptions/", include("pixaudit.exceptions.urls")),
    path("tasks/", include("pixaudit.tasks.urls")),
    path("notifications/", include("pixaudit.notifications.urls")),
    path("aws/", include("pixaudit.awsorg.urls")),
    # The opt-in public trust page (404 unless a manager publishes it).
    path("trust/", include(trust_urlpatterns)),
    # The evidence-pack signing key, public so auditors can pin it (verify_pack --key-url).
    path(PUBLISHED_KEY_PATH.lstrip("/"), signing_key_public, name="signing_key_public"),
    # django-rq's dashboard; its job and queue actions are audit-logged (auditlog.rq_dashboard).
    path("admin/rq/", include(rq_dashboard_urls())),
    path("admin/", admin.site.urls),
    path("", include("pixaudit.dashboard.urls")),
]

# Unrouted /api/v1/ paths answer with problem details (JSON), everything else the branded page.
handler404 = "pixaudit.api.not_found.page_not_found"
