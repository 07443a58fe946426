"""Every URL of the project × every role (plus anonymous and an expired auditor).

``MATRIX`` is THE table of expected GET answers; ``POST_MATRIX`` covers the state-changing
endpoints (and asserts that download views are GET-only). A URL pattern that is in neither
table, nor in ``PENDING`` (pages whose role checks are wired next: flip them into ``MATRIX``
then), nor in ``ELSEWHERE`` (apps other engineers are building right now; their owners move
them into ``MATRIX``), nor under ``admin/`` fails the test, so a new view cannot ship without
a decision about who may use it.

Roles: ``A`` admin (MFA-verified), ``M`` compliance manager (MFA-verified), ``E`` engineer,
``AU`` auditor with an active invitation to engagement A, ``EXP`` auditor whose invitation to
A expired, ``ANON`` anonymous.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

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

W = "world"  # kwargs factories receive the ``world`` fixture
Kwargs = Callable[[object], dict]
NONE: Kwargs = lambda w: {}  # noqa: E731
ENG: Kwargs = lambda w: {"pk": w.engagement.pk}  # noqa: E731
CONN: Kwargs = lambda w: {"pk": w.connection.pk}  # noqa: E731
REP: Kwargs = lambda w: {"pk": w.report.pk}  # noqa: E731
ENG_REP: Kwargs = lambda w: {"pk": w.engagement.pk, "report_pk": w.report.pk}  # noqa: E731

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
}

#: State-changing endpoints, POSTed with empty data (form errors re-render with 200).
POST_MATRIX: dict[str, tuple[Kwargs, dict[str, int]]] = {
    "audits:engagement_create": (NONE, MANAGER_PAGE),
    "audits:invitation_create": (ENG, MANAGER_PAGE),
    "audits:invitation_revoke": (
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
}

#: Pages not yet wired to roles: only the anonymous answer (302 to login) is asserted. To
#: wire one, move it into MATRIX.
PENDING: dict[str, Kwargs] = {}

#: URLs of apps other engineers are building in parallel (access reviews, manual evidence,
#: commitments and the public trust page). Their owners decide who may use them and move
#: them into MATRIX; until then only the anonymous answer is asserted here.
ELSEWHERE: dict[str, tuple[Kwargs, int]] = {
    "reviews:campaign_list": (NONE, 302),
    "reviews:campaign_create": (NONE, 302),
    "reviews:campaign_detail": (lambda w: {"pk": 1}, 302),
    "reviews:campaign_decide": (lambda w: {"pk": 1}, 302),
    "reviews:campaign_assign": (lambda w: {"pk": 1}, 302),
    "reviews:campaign_complete": (lambda w: {"pk": 1}, 302),
    "reviews:campaign_cancel": (lambda w: {"pk": 1}, 302),
    "reviews:campaign_snapshot": (lambda w: {"pk": 1}, 302),
    "manualevidence:list": (NONE, 302),
    "manualevidence:upload": (NONE, 302),
    "manualevidence:detail": (lambda w: {"pk": 1}, 302),
    "manualevidence:download": (lambda w: {"pk": 1}, 302),
    "manualevidence:requirement_add": (NONE, 302),
    "manualevidence:requirement_remove": (lambda w: {"pk": 1}, 302),
    "commitments:list": (NONE, 302),
    "commitments:trust_page_toggle": (NONE, 302),
    "commitments:detail": (lambda w: {"key": "x"}, 302),
    # Public and opt-in: 404 until a manager publishes it.
    "trust_page": (NONE, 404),
}

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
        and name not in ELSEWHERE
        and route not in UNNAMED
    ]
    assert not unknown, f"decide who may use these URLs and add them to MATRIX: {unknown}"
    known = set(MATRIX) | set(PENDING) | set(POST_MATRIX)
    stale = known - {name for name, _ in all_patterns()}
    assert not stale, f"MATRIX/POST_MATRIX/PENDING list URLs that no longer exist: {stale}"
    both = set(ELSEWHERE) & (set(MATRIX) | set(PENDING))
    assert not both, f"wired into MATRIX/PENDING: remove them from ELSEWHERE: {both}"


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
    failures = []
    for name, (kwargs, expected) in POST_MATRIX.items():
        url = reverse(name, kwargs=kwargs(world))
        for role in ROLES:
            status = clients[role].post(url, {}).status_code
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


def test_anonymous_on_urls_built_elsewhere(world, clients):
    """Only the anonymous answer of URLs other engineers are still wiring (see ELSEWHERE)."""
    names = {name for name, _ in all_patterns()}
    login = reverse(settings.LOGIN_URL)
    failures = []
    for name, (kwargs, expected) in ELSEWHERE.items():
        if name not in names:  # renamed or removed by its owner: nothing to assert here
            continue
        response = clients["ANON"].get(reverse(name, kwargs=kwargs(world)))
        status = response.status_code
        if status == 405:  # POST-only view: refused before anything else
            continue
        if status != expected or (status == 302 and not response["Location"].startswith(login)):
            failures.append(f"GET {name} as ANON: {status}, expected {expected}")
    assert not failures, "\n".join(failures)


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
