"""Every URL of the project × every role (plus anonymous and an expired auditor).

``MATRIX`` is THE table of expected GET answers; ``POST_MATRIX`` covers the state-changing
endpoints (and asserts that download views are GET-only). A URL pattern that is in neither
table, nor in ``PENDING`` (pages whose role checks are wired next: flip them into ``MATRIX``
then), nor under ``admin/`` fails the test, so a new view cannot ship without a decision about
who may use it. The public trust page is checked in both states: unpublished (``MATRIX``) and
published (``test_published_trust_page_is_public_and_bare``).

Roles: ``A`` admin (MFA-verified), ``M`` compliance manager (MFA-verified), ``E`` engineer,
``AU`` auditor with an active invitation to engagement A, ``EXP`` auditor whose invitation to
A expired, ``ANON`` anonymous.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from pixaudit.commitments.models import Commitment
from pixaudit.commitments.services import trust_page_set
from pixaudit.evidence.models import EvidenceItem, Finding, LatestResult
from pixaudit.reviews.models import ReviewEntry
from tests.exceptions.helpers import MatrixObjects
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db

ROLES = ("A", "M", "E", "AU", "EXP", "ANON")


def exp(default: int | None = None, **codes: int) -> dict[str, int]:
    out = {role: default for role in ROLES} if default is not None else {}
    out.update(codes)
    assert set(out) == set(ROLES), f"incomplete expectation {out}"
    return out


INTERNAL_PAGE = exp(A=200, M=200, E=200, AU=403, EXP=403, ANON=302)
MANAGER_PAGE = exp(A=200, M=200, E=403, AU=403, EXP=403, ANON=302)
ADMIN_PAGE = exp(A=200, M=403, E=403, AU=403, EXP=403, ANON=302)
# Engagement A's pages: managers and A's auditor; the expired auditor gets 404 (as if absent).
ENGAGEMENT_PAGE = exp(A=200, M=200, E=403, AU=200, EXP=404, ANON=302)
POST_ONLY = exp(405)
# Connections hold credentials: admins and engineers set them up, managers only read.
CONNECTION_ADMIN_PAGE = exp(A=200, M=403, E=200, AU=403, EXP=403, ANON=302)
# A manager-only action that answers with a redirect (POST).
REDIRECT_MANAGERS = exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302)

W = "world"  # kwargs factories receive the ``world`` fixture
Kwargs = Callable[[object], dict]
NONE: Kwargs = lambda w: {}  # noqa: E731
ENG: Kwargs = lambda w: {"pk": w.engagement.pk}  # noqa: E731
CONN: Kwargs = lambda w: {"pk": w.connection.pk}  # noqa: E731
REP: Kwargs = lambda w: {"pk": w.report.pk}  # noqa: E731
ENG_REP: Kwargs = lambda w: {"pk": w.engagement.pk, "report_pk": w.report.pk}  # noqa: E731
CAMPAIGN: Kwargs = lambda w: {"pk": w.campaign.pk}  # noqa: E731
MANUAL: Kwargs = lambda w: {"pk": w.manual.pk}  # noqa: E731
EXC: Kwargs = lambda w: {"pk": MatrixObjects(w).open.pk}  # noqa: E731
EXC_REQUESTED: Kwargs = lambda w: {"pk": MatrixObjects(w).requested.pk}  # noqa: E731
EXC_APPROVED: Kwargs = lambda w: {"pk": MatrixObjects(w).approved.pk}  # noqa: E731

MATRIX: dict[str, tuple[Kwargs, dict[str, int]]] = {
    "accounts:login": (NONE, exp(302, ANON=200)),
    "accounts:logout": (NONE, POST_ONLY),
    "accounts:mfa_settings": (NONE, exp(200, ANON=302)),
    # Enrolled + verified managers are sent on; the others (no device yet) see the QR page.
    "accounts:mfa_enrol": (NONE, exp(A=302, M=302, E=200, AU=200, EXP=200, ANON=302)),
    "accounts:mfa_verify": (NONE, exp(302)),
    "accounts:mfa_recovery_codes_regenerate": (NONE, POST_ONLY),
    "controls:framework_list": (NONE, INTERNAL_PAGE),
    "controls:framework_detail": (lambda w: {"framework_key": "soc2-2017"}, INTERNAL_PAGE),
    "controls:control_detail": (
        lambda w: {"framework_key": "soc2-2017", "ref": "CC6.1"},
        INTERNAL_PAGE,
    ),
    "audits:engagement_list": (NONE, exp(A=200, M=200, E=403, AU=200, EXP=200, ANON=302)),
    "audits:engagement_create": (NONE, MANAGER_PAGE),
    "audits:invitation_accept": (lambda w: {"token": w.pending_token}, exp(200)),
    "audits:engagement_detail": (ENG, ENGAGEMENT_PAGE),
    "audits:invitation_create": (ENG, MANAGER_PAGE),
    "audits:invitation_revoke": (
        lambda w: {"pk": w.engagement.pk, "invitation_pk": w.pending_invitation.pk},
        POST_ONLY,
    ),
    "audits:invitation_resend": (
        lambda w: {"pk": w.engagement.pk, "invitation_pk": w.pending_invitation.pk},
        POST_ONLY,
    ),
    "audits:evidence_list": (ENG, ENGAGEMENT_PAGE),
    "audits:evidence_detail": (
        lambda w: {"pk": w.engagement.pk, "evidence_pk": w.evidence_in.pk},
        ENGAGEMENT_PAGE,
    ),
    "audits:evidence_download": (
        lambda w: {"pk": w.engagement.pk, "evidence_pk": w.evidence_in.pk},
        ENGAGEMENT_PAGE,
    ),
    "audits:request_list": (ENG, ENGAGEMENT_PAGE),
    "audits:request_create": (ENG, exp(A=403, M=403, E=403, AU=200, EXP=404, ANON=302)),
    "audits:request_detail": (
        lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk},
        ENGAGEMENT_PAGE,
    ),
    "audits:request_answer": (
        lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk},
        POST_ONLY,
    ),
    "audits:request_review": (
        lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk},
        POST_ONLY,
    ),
    "audits:sample_list": (ENG, ENGAGEMENT_PAGE),
    "audits:sample_detail": (
        lambda w: {"pk": w.engagement.pk, "sample_pk": w.sample.pk},
        ENGAGEMENT_PAGE,
    ),
    # Engagement A's report: managers queue it (POST only); managers and A's auditor download
    # the stamped PDF and the evidence pack (GET only, every download logged).
    "audits:report_generate": (ENG, POST_ONLY),
    "audits:report_pdf": (ENG_REP, ENGAGEMENT_PAGE),
    "audits:report_pack": (ENG_REP, ENGAGEMENT_PAGE),
    "auditlog:event_list": (NONE, ADMIN_PAGE),
    "auditlog:event_export": (NONE, ADMIN_PAGE),
    # The dashboard: internal users; auditors land on their engagements instead.
    "dashboard:home": (NONE, exp(A=200, M=200, E=200, AU=302, EXP=302, ANON=302)),
    "dashboard:overview": (lambda w: {"framework_key": "soc2-2017"}, INTERNAL_PAGE),
    "dashboard:framework_coverage": (lambda w: {"framework_key": "soc2-2017"}, INTERNAL_PAGE),
    "dashboard:control_list": (NONE, INTERNAL_PAGE),
    "dashboard:control_detail": (
        lambda w: {"framework_key": "soc2-2017", "ref": "CC6.1"},
        INTERNAL_PAGE,
    ),
    "dashboard:control_owner": (
        lambda w: {"framework_key": "soc2-2017", "ref": "CC6.1"},
        POST_ONLY,
    ),
    "dashboard:connection_list": (NONE, INTERNAL_PAGE),
    # Without ?collector= the page sends the user to pick one on the connections list.
    "dashboard:connection_create": (NONE, exp(A=302, M=403, E=302, AU=403, EXP=403, ANON=302)),
    "dashboard:connection_edit": (CONN, CONNECTION_ADMIN_PAGE),
    "dashboard:connection_run": (CONN, POST_ONLY),
    "dashboard:run_list": (NONE, INTERNAL_PAGE),
    "dashboard:run_detail": (lambda w: {"pk": w.evidence_in.run_id}, INTERNAL_PAGE),
    "dashboard:run_status": (lambda w: {"pk": w.evidence_in.run_id}, INTERNAL_PAGE),
    "dashboard:evidence_list": (NONE, INTERNAL_PAGE),
    "dashboard:evidence_detail": (lambda w: {"pk": w.evidence_in.pk}, INTERNAL_PAGE),
    "dashboard:evidence_artifact": (lambda w: {"pk": w.evidence_in.pk}, INTERNAL_PAGE),
    "dashboard:evidence_verify": (lambda w: {"pk": w.evidence_in.pk}, POST_ONLY),
    "dashboard:soa_list": (NONE, INTERNAL_PAGE),
    "dashboard:soa_edit": (
        lambda w: {"framework_key": "iso27001-2022", "ref": "A.8.24"},
        MANAGER_PAGE,
    ),  # fmt: skip
    # Reports: internal users only (auditors use their engagement's pages); managers request
    # reports and download evidence packs.
    "reports:list": (NONE, INTERNAL_PAGE),
    "reports:detail": (REP, INTERNAL_PAGE),
    "reports:status": (REP, INTERNAL_PAGE),
    "reports:download": (REP, INTERNAL_PAGE),
    "reports:preview": (REP, INTERNAL_PAGE),
    "reports:pack": (REP, MANAGER_PAGE),
    "reports:signing_key": (NONE, INTERNAL_PAGE),
    "reports:signing_key_pem": (NONE, INTERNAL_PAGE),
    # The pack-signing public key, published for anyone to pin (verify_pack --key-url).
    "signing_key_public": (NONE, exp(200)),
    # Access reviews: every internal user may read and (if assigned) decide; managers start,
    # assign, complete and cancel. Auditors see the completed review as chained evidence.
    "reviews:campaign_list": (NONE, INTERNAL_PAGE),
    "reviews:campaign_create": (NONE, MANAGER_PAGE),
    "reviews:campaign_detail": (CAMPAIGN, INTERNAL_PAGE),
    "reviews:campaign_decide": (CAMPAIGN, POST_ONLY),
    "reviews:campaign_assign": (CAMPAIGN, POST_ONLY),
    "reviews:campaign_complete": (CAMPAIGN, POST_ONLY),
    "reviews:campaign_cancel": (CAMPAIGN, POST_ONLY),
    "reviews:campaign_snapshot": (CAMPAIGN, INTERNAL_PAGE),
    # Manual evidence: internal users read and download; managers upload and set requirements.
    "manualevidence:list": (NONE, INTERNAL_PAGE),
    "manualevidence:upload": (NONE, MANAGER_PAGE),
    "manualevidence:detail": (MANUAL, INTERNAL_PAGE),
    "manualevidence:download": (MANUAL, INTERNAL_PAGE),
    "manualevidence:requirement_add": (NONE, POST_ONLY),
    "manualevidence:requirement_remove": (lambda w: {"pk": w.requirement.pk}, POST_ONLY),
    # Commitments: internal users; managers publish the trust page.
    "commitments:list": (NONE, INTERNAL_PAGE),
    "commitments:detail": (lambda w: {"key": w.commitment.key}, INTERNAL_PAGE),
    "commitments:trust_page_toggle": (NONE, POST_ONLY),
    "commitments:trust_page_preview": (NONE, MANAGER_PAGE),
    # Public and opt-in: 404 for everyone until a manager publishes it (see
    # test_published_trust_page_is_public_and_bare for the published state).
    "trust_page": (NONE, exp(404)),
    # Exceptions register: internal users read, export and ask for acceptance; managers set
    # owners and decide acceptances; auditors read their engagement's window only.
    "exceptions:register": (NONE, INTERNAL_PAGE),
    "exceptions:export": (lambda w: {"fmt": "csv"}, INTERNAL_PAGE),
    "exceptions:detail": (EXC, INTERNAL_PAGE),
    "exceptions:update": (EXC, POST_ONLY),
    "exceptions:acceptance_request": (EXC, POST_ONLY),
    "exceptions:acceptance_decide": (EXC_REQUESTED, POST_ONLY),
    "exceptions:acceptance_revoke": (EXC_APPROVED, POST_ONLY),
    "exceptions:engagement_register": (ENG, ENGAGEMENT_PAGE),
    "exceptions:engagement_export": (
        lambda w: {"pk": w.engagement.pk, "fmt": "xlsx"},
        ENGAGEMENT_PAGE,
    ),  # fmt: skip
}

#: State-changing endpoints, POSTed with empty data (form errors re-render with 200).
POST_MATRIX: dict[str, tuple[Kwargs, dict[str, int]]] = {
    "audits:engagement_create": (NONE, MANAGER_PAGE),
    "audits:invitation_create": (ENG, MANAGER_PAGE),
    "audits:invitation_revoke": (
        lambda w: {"pk": w.engagement.pk, "invitation_pk": w.pending_invitation.pk},
        exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302),
    ),
    "audits:invitation_resend": (
        lambda w: {"pk": w.engagement.pk, "invitation_pk": w.pending_invitation.pk},
        exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302),
    ),
    "audits:request_create": (ENG, exp(A=403, M=403, E=403, AU=200, EXP=404, ANON=302)),
    "audits:request_answer": (
        lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk},
        exp(A=200, M=200, E=403, AU=403, EXP=403, ANON=302),
    ),
    "audits:request_review": (
        lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk},
        exp(A=403, M=403, E=403, AU=200, EXP=404, ANON=302),
    ),
    "audits:sample_list": (ENG, ENGAGEMENT_PAGE),
    "accounts:mfa_recovery_codes_regenerate": (
        NONE,
        exp(A=200, M=200, E=302, AU=302, EXP=302, ANON=302),
    ),
    "dashboard:connection_run": (CONN, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "dashboard:control_owner": (
        lambda w: {"framework_key": "soc2-2017", "ref": "CC6.1"},
        exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302),
    ),
    # Verify answers with the result page itself.
    "dashboard:evidence_verify": (lambda w: {"pk": w.evidence_in.pk}, INTERNAL_PAGE),
    "dashboard:connection_create": (NONE, exp(A=302, M=403, E=302, AU=403, EXP=403, ANON=302)),
    "dashboard:soa_edit": (
        lambda w: {"framework_key": "iso27001-2022", "ref": "A.8.24"},
        MANAGER_PAGE,
    ),
    # An empty form re-renders with its errors for managers; others may not request reports.
    "reports:list": (NONE, exp(A=200, M=200, E=403, AU=403, EXP=403, ANON=302)),
    # No framework chosen: back to the engagement page with a message, nothing queued.
    "audits:report_generate": (ENG, exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302)),
    "audits:report_pdf": (ENG_REP, POST_ONLY),
    "audits:report_pack": (ENG_REP, POST_ONLY),
    # An empty POST is an invalid form: 400 with the errors for managers.
    "reviews:campaign_create": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "reviews:campaign_snapshot": (CAMPAIGN, POST_ONLY),
    "manualevidence:download": (MANUAL, POST_ONLY),
    # Nothing decided / assigned / completable: back to the campaign with a message.
    "reviews:campaign_decide": (CAMPAIGN, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "reviews:campaign_assign": (CAMPAIGN, REDIRECT_MANAGERS),
    "reviews:campaign_complete": (CAMPAIGN, REDIRECT_MANAGERS),
    "reviews:campaign_cancel": (CAMPAIGN, REDIRECT_MANAGERS),
    "manualevidence:upload": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "manualevidence:requirement_add": (NONE, REDIRECT_MANAGERS),
    "manualevidence:requirement_remove": (
        lambda w: {"pk": w.requirement.pk},
        REDIRECT_MANAGERS,
    ),
    "commitments:trust_page_toggle": (NONE, REDIRECT_MANAGERS),
    # Empty forms: back to the exception with a message (nothing changed or recorded).
    "exceptions:update": (EXC, REDIRECT_MANAGERS),
    "exceptions:acceptance_request": (EXC, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "exceptions:acceptance_decide": (EXC_REQUESTED, REDIRECT_MANAGERS),
    "exceptions:acceptance_revoke": (EXC_APPROVED, REDIRECT_MANAGERS),
}

#: Pages not yet wired to roles: only the anonymous answer (302 to login) is asserted. To
#: wire one, move it into MATRIX.
PENDING: dict[str, Kwargs] = {}

#: Unnamed routes outside the admin site.
UNNAMED = {"admin/login/": exp(302)}


def _walk(resolver: URLResolver, prefix: str = "", ns: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{ns}{pattern.namespace}:" if pattern.namespace else ns
            yield from _walk(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{ns}{pattern.name}" if pattern.name else None
            yield name, prefix + str(pattern.pattern)


def all_patterns() -> list[tuple[str | None, str]]:
    return list(_walk(get_resolver()))


def _is_admin_site(route: str) -> bool:
    return route.startswith("admin/") and route != "admin/login/"


def _sample_path(route: str) -> str:
    """A concrete path for an admin-site route (ids that do not exist)."""
    path = re.sub(r"<int:\w+>", "0", route)
    path = re.sub(r"<(?:str|path|slug):\w+>", "x", path)
    path = re.sub(r"\(\?P<\w+>[^)]*\)\??", "x", path)
    return "/" + path.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")


@pytest.fixture
def clients(world) -> dict[str, Client]:
    return {
        "A": client_for(world.admin),
        "M": client_for(world.manager),
        "E": client_for(world.engineer, verified=False),
        "AU": client_for(world.auditor, verified=False),
        "EXP": client_for(world.expired_auditor, verified=False),
        "ANON": client_for(None),
    }


def test_every_url_is_classified():
    unknown = [
        (name, route)
        for name, route in all_patterns()
        if not _is_admin_site(route)
        and name not in MATRIX
        and name not in PENDING
        and route not in UNNAMED
    ]
    assert not unknown, f"decide who may use these URLs and add them to MATRIX: {unknown}"
    known = set(MATRIX) | set(PENDING) | set(POST_MATRIX)
    stale = known - {name for name, _ in all_patterns()}
    assert not stale, f"MATRIX/POST_MATRIX/PENDING list URLs that no longer exist: {stale}"
    both = set(MATRIX) & set(PENDING)
    assert not both, f"wired into MATRIX: remove them from PENDING: {both}"


def test_get_matrix(world, clients):
    failures = []
    for name, (kwargs, expected) in MATRIX.items():
        url = reverse(name, kwargs=kwargs(world))
        for role in ROLES:
            status = clients[role].get(url).status_code
            if status != expected[role]:
                failures.append(f"GET {url} as {role}: {status}, expected {expected[role]}")
    for route, expected in UNNAMED.items():
        for role in ROLES:
            status = clients[role].get("/" + route).status_code
            if status != expected[role]:
                failures.append(f"GET /{route} as {role}: {status}, expected {expected[role]}")
    assert not failures, "\n".join(failures)


def test_post_matrix(world, clients):
    """Each POST runs in a savepoint rolled back afterwards, so every role meets the same world
    (one manager removing a requirement or cancelling a campaign changes nothing for the next).
    """
    failures = []
    for name, (kwargs, expected) in POST_MATRIX.items():
        url = reverse(name, kwargs=kwargs(world))
        for role in ROLES:
            with transaction.atomic():
                status = clients[role].post(url, {}).status_code
                transaction.set_rollback(True)
            if status != expected[role]:
                failures.append(f"POST {url} as {role}: {status}, expected {expected[role]}")
    assert not failures, "\n".join(failures)


def test_anonymous_is_sent_to_login_everywhere_else(world, clients):
    login = reverse(settings.LOGIN_URL)
    for name, kwargs in PENDING.items():
        response = clients["ANON"].get(reverse(name, kwargs=kwargs(world)))
        if response.status_code == 405:  # POST-only view: refused before anything else
            continue
        assert response.status_code == 302, name
        assert response["Location"].startswith(login), name


def test_admin_site_is_for_admins_only(world, clients):
    """Django admin and django-rq: everyone but admins is sent to sign in (or gets 401)."""
    login = reverse(settings.LOGIN_URL)
    admin_login = "/admin/login/"
    failures = []
    for _name, route in all_patterns():
        if not _is_admin_site(route):
            continue
        path = _sample_path(route)
        for role in ("M", "E", "AU", "EXP", "ANON"):
            response = clients[role].get(path)
            location = response.get("Location", "")
            # /admin/logout/ answers GET by sending everyone back to /admin/ (then to login).
            targets = (login, admin_login, "/admin/") if path == "/admin/logout/" else (
                login, admin_login
            )  # fmt: skip
            refused = response.status_code == 401 or (
                response.status_code == 302 and location.startswith(targets)
            )
            if not refused:
                failures.append(f"GET {path} as {role}: {response.status_code} {location}")
    assert not failures, "\n".join(failures)
    # Admins (MFA-verified) do reach the admin site and the queue dashboard.
    for path in ("/admin/", "/admin/accounts/user/", "/admin/rq/"):
        assert clients["A"].get(path).status_code == 200, path


def test_published_trust_page_is_public_and_bare(world, clients):
    """Once a manager publishes it, everyone (anonymous included) reads the trust page: the
    public commitments and their state, never a resource, an ARN, an account or a hash."""
    url = reverse("trust_page")
    assert clients["ANON"].get(url).status_code == 404
    trust_page_set(enabled=True, user=world.manager)
    failures = [
        f"GET {url} as {role}: {status}, expected 200"
        for role in ROLES
        if (status := clients[role].get(url).status_code) != 200
    ]
    assert not failures, "\n".join(failures)
    page = clients["ANON"].get(url).content.decode()
    assert Commitment.objects.filter(public=True).exists()
    for commitment in Commitment.objects.all():
        assert (commitment.title in page) == commitment.public, commitment.key
    secrets = {r for r in Finding.objects.values_list("resource", flat=True) if len(r) > 3}
    secrets |= set(LatestResult.objects.values_list("resource", flat=True))
    secrets |= set(ReviewEntry.objects.values_list("account_id", flat=True))
    secrets |= {world.manual.file_name, world.manual.file_sha256, world.campaign.snapshot_sha256}
    for item in EvidenceItem.objects.all():
        secrets |= {item.sha256, item.chain_hash}
    leaked = sorted(s for s in secrets if s and s in page)
    assert not leaked, f"the public trust page shows {leaked}"
    assert "arn:" not in page.lower()
    assert not re.search(r"\b[0-9a-f]{40,}\b", page), "a hash on the public trust page"
