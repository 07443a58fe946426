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
from tests.security.matrix_objects import (
    AWS,
    AWS_RUN,
    DSR_DONE,
    DSR_OPEN,
    ENG_PACK,
    INVITE_TOKEN,
    INVITED,
    PACK,
    PERSON,
    VENDOR,
    VENDOR_FILE,
    VENDOR_INCIDENT,
    Kwargs,
)

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
# Connections hold credentials: internal users set them up (managers may add integrations).
CONNECTION_ADMIN_PAGE = exp(A=200, M=200, E=200, AU=403, EXP=403, ANON=302)
# A manager-only action that answers with a redirect (POST).
REDIRECT_MANAGERS = exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302)

W = "world"  # kwargs factories receive the ``world`` fixture
NONE: Kwargs = lambda w: {}  # noqa: E731
ENG: Kwargs = lambda w: {"pk": w.engagement.pk}  # noqa: E731
CONN: Kwargs = lambda w: {"pk": w.connection.pk}  # noqa: E731
REP: Kwargs = lambda w: {"pk": w.report.pk}  # noqa: E731
ENG_REP: Kwargs = lambda w: {"pk": w.engagement.pk, "report_pk": w.report.pk}  # noqa: E731
CAMPAIGN: Kwargs = lambda w: {"pk": w.campaign.pk}  # noqa: E731
MANUAL: Kwargs = lambda w: {"pk": w.manual.pk}  # noqa: E731
SAMPLE: Kwargs = lambda w: {"pk": w.engagement.pk, "sample_pk": w.sample.pk}  # noqa: E731
SOC2: Kwargs = lambda w: {"framework_key": "soc2-2017"}  # noqa: E731
EXC: Kwargs = lambda w: {"pk": MatrixObjects(w).open.pk}  # noqa: E731
EXC_REQUESTED: Kwargs = lambda w: {"pk": MatrixObjects(w).requested.pk}  # noqa: E731
EXC_APPROVED: Kwargs = lambda w: {"pk": MatrixObjects(w).approved.pk}  # noqa: E731
TASK: Kwargs = lambda w: {"pk": w.task.pk}  # noqa: E731
ATTACHMENT: Kwargs = lambda w: {"pk": w.task.pk, "attachment_pk": w.task_attachment.pk}  # noqa: E731
ENDPOINT: Kwargs = lambda w: {"pk": w.endpoint.pk}  # noqa: E731
SIGNED_IN = exp(A=200, M=200, E=200, AU=200, EXP=200, ANON=302)


MATRIX: dict[str, tuple[Kwargs, dict[str, int]]] = {
    "accounts:login": (NONE, exp(302, ANON=200)),
    # Users (admins only); the invitation link is for whoever holds it.
    "accounts:user_list": (NONE, ADMIN_PAGE),
    "accounts:user_invite": (NONE, ADMIN_PAGE),
    "accounts:user_detail": (PERSON, ADMIN_PAGE),
    "accounts:user_role": (PERSON, POST_ONLY),
    "accounts:user_active": (PERSON, POST_ONLY),
    "accounts:user_mfa_reset": (PERSON, POST_ONLY),
    "accounts:user_invitation_resend": (INVITED, POST_ONLY),
    "accounts:invitation_accept": (INVITE_TOKEN, exp(200)),
    # Single sign-on is off in the suite (OIDC_RP_CLIENT_ID unset): not found for everyone.
    # tests/accounts/test_oidc.py runs it against a local provider.
    "accounts:oidc_login": (NONE, exp(404)),
    "accounts:oidc_callback": (NONE, exp(404)),
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
    "audits:engagement_edit": (ENG, MANAGER_PAGE),
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
    # The engagement by control, sample results and the sample workbook: A's readers; only
    # the engagement's auditors record results (POST only, multipart).
    "audits:control_list": (ENG, ENGAGEMENT_PAGE),
    "audits:control_detail": (
        lambda w: {"pk": w.engagement.pk, "framework_key": "soc2-2017", "ref": "CC6.1"},
        ENGAGEMENT_PAGE,
    ),
    "audits:sample_result_create": (SAMPLE, POST_ONLY),
    "audits:sample_result_file": (
        lambda w: {**SAMPLE(w), "result_pk": w.sample_result.pk},
        ENGAGEMENT_PAGE,
    ),
    "audits:sample_workbook": (SAMPLE, ENGAGEMENT_PAGE),
    # Engagement A's report: managers queue it (POST only); managers and A's auditor download
    # the stamped PDF and the evidence pack (GET only, every download logged).
    "audits:report_generate": (ENG, POST_ONLY),
    "audits:report_pdf": (ENG_REP, ENGAGEMENT_PAGE),
    # Packs are built by a job (POST only); the build page, its status and the stored ZIP:
    # managers, and the auditor who asked for it (ENG_PACK is A's auditor's build).
    "audits:report_pack": (ENG_REP, POST_ONLY),
    "audits:pack_detail": (ENG_PACK, ENGAGEMENT_PAGE),
    "audits:pack_status": (ENG_PACK, ENGAGEMENT_PAGE),
    "audits:pack_download": (ENG_PACK, ENGAGEMENT_PAGE),
    # Compliance managers see the audit log too (issue 15).
    "auditlog:event_list": (NONE, MANAGER_PAGE),
    "auditlog:event_export": (NONE, MANAGER_PAGE),
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
    "dashboard:connection_create": (NONE, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
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
    "reports:pack": (REP, POST_ONLY),
    "reports:pack_detail": (PACK, MANAGER_PAGE),
    "reports:pack_status": (PACK, MANAGER_PAGE),
    "reports:pack_download": (PACK, MANAGER_PAGE),
    "reports:signing_key": (NONE, INTERNAL_PAGE),
    "reports:signing_key_pem": (NONE, INTERNAL_PAGE),
    # What reports state (scope, management assertion, narratives): internal users read,
    # managers save new versions.
    "reports:scope": (SOC2, INTERNAL_PAGE),
    "reports:narratives": (SOC2, INTERNAL_PAGE),
    "reports:narrative_edit": (
        lambda w: {"framework_key": "soc2-2017", "ref": "CC6.1"},
        INTERNAL_PAGE,
    ),  # fmt: skip
    # The pack-signing public key, published for anyone to pin (verify_pack --key-url).
    "signing_key_public": (NONE, exp(200)),
    # Access reviews: every internal user may read and (if assigned) decide; managers start,
    # assign, complete and cancel. Auditors see the completed review as chained evidence.
    "reviews:campaign_list": (NONE, INTERNAL_PAGE),
    # People: every internal user reads the leaver test; managers run it, edit the mapping
    # table and upload HR exports.
    "people:overview": (NONE, INTERNAL_PAGE),
    "people:run": (NONE, POST_ONLY),
    "people:mappings": (NONE, MANAGER_PAGE),
    "people:hr_upload": (NONE, MANAGER_PAGE),
    # The data-subject request register: managers and admins only, never auditors.
    "privacy:list": (NONE, MANAGER_PAGE),
    "privacy:create": (NONE, MANAGER_PAGE),
    "privacy:edit": (DSR_OPEN, MANAGER_PAGE),
    "privacy:complete": (DSR_OPEN, MANAGER_PAGE),
    "privacy:evidence_download": (DSR_DONE, MANAGER_PAGE),
    "people:review": (NONE, POST_ONLY),
    # Vendors: every internal user reads the register, its files and its export; managers
    # edit, upload, record incidents, import and publish the sub-processor list. Auditors
    # get the register's evidence through their engagement, not these pages.
    "vendors:list": (NONE, INTERNAL_PAGE),
    "vendors:create": (NONE, MANAGER_PAGE),
    "vendors:import": (NONE, MANAGER_PAGE),
    "vendors:export": (lambda w: {"fmt": "csv"}, INTERNAL_PAGE),
    "vendors:public_list": (NONE, POST_ONLY),
    "vendors:detail": (VENDOR, INTERNAL_PAGE),
    "vendors:edit": (VENDOR, MANAGER_PAGE),
    "vendors:delete": (VENDOR, POST_ONLY),
    "vendors:upload": (VENDOR, POST_ONLY),
    "vendors:file_download": (VENDOR_FILE, INTERNAL_PAGE),
    "vendors:incident_add": (VENDOR, POST_ONLY),
    "vendors:incident_handle": (VENDOR_INCIDENT, POST_ONLY),
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
    # The API's pages (session): every signed-in role holds tokens and reads the reference.
    "api:tokens": (NONE, exp(200, ANON=302)),
    "api:token_revoke": (lambda w: {"pk": 999999}, POST_ONLY),
    "api:reference": (NONE, exp(200, ANON=302)),
    "api:reference_schema": (NONE, exp(200, ANON=302)),
    # AWS integrations: like connections (credentials): every internal user sets them up,
    # tests, reads and runs them and downloads the role template.
    "awsorg:list": (NONE, INTERNAL_PAGE),
    "awsorg:create": (NONE, CONNECTION_ADMIN_PAGE),
    "awsorg:detail": (AWS, INTERNAL_PAGE),
    "awsorg:edit": (AWS, CONNECTION_ADMIN_PAGE),
    "awsorg:test": (AWS, POST_ONLY),
    "awsorg:run": (AWS, POST_ONLY),
    "awsorg:template": (AWS, INTERNAL_PAGE),
    "awsorg:stackset": (AWS, INTERNAL_PAGE),
    "awsorg:run_detail": (AWS_RUN, INTERNAL_PAGE),
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
    # Tasks: every internal user has "My work" and works on tasks; managers assign.
    "tasks:my_work": (NONE, INTERNAL_PAGE),
    "tasks:task_list": (NONE, INTERNAL_PAGE),
    "tasks:task_create": (NONE, INTERNAL_PAGE),
    "tasks:task_detail": (TASK, INTERNAL_PAGE),
    "tasks:task_assign": (TASK, POST_ONLY),
    "tasks:task_close": (TASK, POST_ONLY),
    "tasks:task_reopen": (TASK, POST_ONLY),
    "tasks:task_comment": (TASK, POST_ONLY),
    "tasks:task_attach": (TASK, POST_ONLY),
    "tasks:attachment_download": (ATTACHMENT, INTERNAL_PAGE),
    # Notifications: everyone signed in sets their own preferences (auditors receive answers
    # to their requests); managers configure endpoints and read their delivery logs.
    "notifications:preferences": (NONE, SIGNED_IN),
    "notifications:endpoint_list": (NONE, MANAGER_PAGE),
    "notifications:endpoint_create": (NONE, MANAGER_PAGE),
    "notifications:endpoint_detail": (ENDPOINT, MANAGER_PAGE),
    "notifications:endpoint_update": (ENDPOINT, POST_ONLY),
    "notifications:endpoint_rotate": (ENDPOINT, POST_ONLY),
    "notifications:endpoint_test": (ENDPOINT, POST_ONLY),
}

#: State-changing endpoints, POSTed with empty data (form errors re-render with 200).
POST_MATRIX: dict[str, tuple[Kwargs, dict[str, int]]] = {
    # An empty invitation form re-renders with its errors; the user actions answer with a
    # redirect to the user's page (with the refusal or result as a message).
    "accounts:user_invite": (NONE, exp(A=400, M=403, E=403, AU=403, EXP=403, ANON=302)),
    "accounts:user_role": (PERSON, exp(A=302, M=403, E=403, AU=403, EXP=403, ANON=302)),
    "accounts:user_active": (PERSON, exp(A=302, M=403, E=403, AU=403, EXP=403, ANON=302)),
    "accounts:user_mfa_reset": (PERSON, exp(A=302, M=403, E=403, AU=403, EXP=403, ANON=302)),
    "accounts:user_invitation_resend": (
        INVITED,
        exp(A=302, M=403, E=403, AU=403, EXP=403, ANON=302),
    ),
    "accounts:invitation_accept": (INVITE_TOKEN, exp(400)),
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
    # An empty result is an invalid form: 400 for A's auditor; nobody else records results.
    "audits:sample_result_create": (SAMPLE, exp(A=403, M=403, E=403, AU=400, EXP=404, ANON=302)),
    "audits:sample_result_file": (
        lambda w: {**SAMPLE(w), "result_pk": w.sample_result.pk},
        POST_ONLY,
    ),
    "audits:sample_workbook": (SAMPLE, POST_ONLY),
    # Empty forms: 400 with the errors for managers; other internal users only read.
    "reports:scope": (SOC2, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "reports:narrative_edit": (
        lambda w: {"framework_key": "soc2-2017", "ref": "CC6.1"},
        exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302),
    ),
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
    "dashboard:connection_create": (NONE, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "dashboard:soa_edit": (
        lambda w: {"framework_key": "iso27001-2022", "ref": "A.8.24"},
        MANAGER_PAGE,
    ),
    # An empty form re-renders with its errors for managers; others may not request reports.
    "reports:list": (NONE, exp(A=200, M=200, E=403, AU=403, EXP=403, ANON=302)),
    # No framework chosen: back to the engagement page with a message, nothing queued.
    "audits:report_generate": (ENG, exp(A=302, M=302, E=403, AU=403, EXP=403, ANON=302)),
    "audits:report_pdf": (ENG_REP, POST_ONLY),
    # A build is queued and its page shown; the expired auditor's engagement is absent.
    "audits:report_pack": (ENG_REP, exp(A=302, M=302, E=403, AU=302, EXP=404, ANON=302)),
    "audits:pack_download": (ENG_PACK, POST_ONLY),
    "reports:pack": (REP, REDIRECT_MANAGERS),
    "reports:pack_download": (PACK, POST_ONLY),
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
    # Empty forms re-render with their errors; closing needs no note; assigning nobody is
    # allowed; saving preferences with nothing chosen turns e-mails off.
    "tasks:task_create": (NONE, INTERNAL_PAGE),
    "tasks:task_assign": (TASK, REDIRECT_MANAGERS),
    "tasks:task_close": (TASK, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "tasks:task_reopen": (TASK, INTERNAL_PAGE),
    "tasks:task_comment": (TASK, INTERNAL_PAGE),
    "tasks:task_attach": (TASK, INTERNAL_PAGE),
    "tasks:attachment_download": (ATTACHMENT, POST_ONLY),
    "notifications:preferences": (NONE, exp(302)),
    "notifications:endpoint_create": (NONE, MANAGER_PAGE),
    "notifications:endpoint_update": (ENDPOINT, MANAGER_PAGE),
    "notifications:endpoint_rotate": (ENDPOINT, MANAGER_PAGE),
    "notifications:endpoint_test": (ENDPOINT, REDIRECT_MANAGERS),
    # An empty form is refused with its errors; revoking a token that is not yours is 404.
    "api:tokens": (NONE, exp(400, ANON=302)),
    "api:token_revoke": (lambda w: {"pk": 999999}, exp(404, ANON=302)),
    # An empty form: 400 with its errors; a run (or the run already active): its page.
    "awsorg:create": (NONE, exp(A=400, M=400, E=400, AU=403, EXP=403, ANON=302)),
    "awsorg:run": (AWS, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "awsorg:test": (AWS, exp(A=302, M=302, E=302, AU=403, EXP=403, ANON=302)),
    "awsorg:template": (AWS, POST_ONLY),
    "awsorg:stackset": (AWS, POST_ONLY),
    # An empty POST: invalid thresholds (back with a message), an unknown mapping request
    # and an upload without file (400 with the errors).
    "people:run": (NONE, REDIRECT_MANAGERS),
    "people:review": (NONE, REDIRECT_MANAGERS),
    "people:mappings": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "people:hr_upload": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    # Vendors: empty forms re-render with their errors (400); removing needs the confirmation
    # (back to the vendor); an empty public-list POST turns the list off; downloads and the
    # list pages answer GET only.
    "vendors:list": (NONE, POST_ONLY),
    "vendors:detail": (VENDOR, POST_ONLY),
    "vendors:create": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "vendors:edit": (VENDOR, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "vendors:import": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "vendors:upload": (VENDOR, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "vendors:incident_add": (VENDOR, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "vendors:incident_handle": (
        VENDOR_INCIDENT,
        exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302),
    ),
    "vendors:delete": (VENDOR, REDIRECT_MANAGERS),
    "vendors:public_list": (NONE, REDIRECT_MANAGERS),
    "vendors:export": (lambda w: {"fmt": "xlsx"}, POST_ONLY),
    "vendors:file_download": (VENDOR_FILE, POST_ONLY),
    # Empty forms: 400 with their errors; the evidence file is a GET-only download.
    "privacy:create": (NONE, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "privacy:edit": (DSR_OPEN, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "privacy:complete": (DSR_OPEN, exp(A=400, M=400, E=403, AU=403, EXP=403, ANON=302)),
    "privacy:evidence_download": (DSR_DONE, POST_ONLY),
}

# --- The REST API (/api/v1/): token clients ------------------------------------------------
# Each role's token holds every scope its role may hold; EXP's token was created while its
# invitation was active (access ended since: 401); ANON sends no token (401). Sessions are
# not accepted by the API (test_api_ignores_sessions). Expected answers per method.
API_INTERNAL = exp(A=200, M=200, E=200, AU=403, EXP=401, ANON=401)
API_ENGAGEMENT = exp(A=200, M=200, E=403, AU=200, EXP=401, ANON=401)
API_ANY = exp(A=200, M=200, E=200, AU=200, EXP=401, ANON=401)
API_MANAGERS = exp(A=200, M=200, E=403, AU=403, EXP=401, ANON=401)
API_POST_ONLY = exp(A=405, M=405, E=405, AU=405, EXP=401, ANON=401)
API_GET_ONLY = API_POST_ONLY
EV: Kwargs = lambda w: {"pk": w.evidence_in.pk}  # noqa: E731
RUN: Kwargs = lambda w: {"pk": w.evidence_in.run_id}  # noqa: E731
ENG_EV: Kwargs = lambda w: {"pk": w.engagement.pk, "evidence_pk": w.evidence_in.pk}  # noqa: E731
ENG_REQ: Kwargs = lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk}  # noqa: E731
PUSH: Kwargs = lambda w: {"key": "ci_deployments"}  # noqa: E731

API_MATRIX: dict[str, tuple[Kwargs, dict[str, dict[str, int]]]] = {
    "api:schema": (NONE, {"GET": API_ANY, "POST": API_GET_ONLY}),
    "api:framework_list": (NONE, {"GET": API_INTERNAL}),
    "api:framework_controls": (lambda w: {"key": "soc2-2017"}, {"GET": API_INTERNAL}),
    "api:framework_coverage": (lambda w: {"key": "soc2-2017"}, {"GET": API_INTERNAL}),
    "api:finding_list": (NONE, {"GET": API_INTERNAL}),
    "api:evidence_list": (NONE, {"GET": API_INTERNAL}),
    "api:evidence_detail": (EV, {"GET": API_INTERNAL}),
    "api:evidence_artifact": (EV, {"GET": API_INTERNAL, "POST": API_GET_ONLY}),
    "api:run_list": (NONE, {"GET": API_INTERNAL}),
    "api:run_detail": (RUN, {"GET": API_INTERNAL}),
    "api:connection_list": (NONE, {"GET": API_INTERNAL}),
    "api:connection_detail": (CONN, {"GET": API_INTERNAL}),
    # Starting a run: every internal role (the in-process queue runs it before answering).
    "api:connection_run": (CONN, {
        "GET": API_POST_ONLY, "POST": exp(A=202, M=202, E=202, AU=403, EXP=401, ANON=401)}),
    # Uploading manual evidence: managers, as multipart (a JSON body is refused with 415).
    "api:manual_evidence": (NONE, {
        "GET": API_INTERNAL, "POST": exp(A=415, M=415, E=403, AU=403, EXP=401, ANON=401)}),
    "api:engagement_list": (NONE, {"GET": API_ENGAGEMENT}),
    "api:engagement_evidence": (ENG, {"GET": API_ENGAGEMENT}),
    "api:engagement_artifact": (ENG_EV, {"GET": API_ENGAGEMENT}),
    # Answering an auditor's request: managers (an empty answer is refused: 400).
    "api:request_answer": (ENG_REQ, {
        "GET": API_POST_ONLY, "POST": exp(A=400, M=400, E=403, AU=403, EXP=401, ANON=401)}),
    "api:review_decisions": (CAMPAIGN, {
        "GET": API_POST_ONLY, "POST": exp(A=400, M=400, E=400, AU=403, EXP=401, ANON=401)}),
    "api:audit_log": (NONE, {"GET": exp(A=200, M=403, E=403, AU=403, EXP=401, ANON=401)}),
    "api:commitment_list": (NONE, {"GET": API_INTERNAL}),
    # Pushing evidence: internal users' tokens with write:evidence (empty body: 400).
    "api:push": (PUSH, {
        "GET": API_POST_ONLY, "POST": exp(A=400, M=400, E=400, AU=403, EXP=401, ANON=401)}),
    # Reports, as on /reports/: internal users read and download the PDF, managers request
    # (write:reports; an empty request names no framework: 400); auditors only through
    # their engagement's page (403 saying so).
    "api:report_list": (NONE, {
        "GET": API_INTERNAL, "POST": exp(A=400, M=400, E=403, AU=403, EXP=401, ANON=401)}),
    "api:report_detail": (REP, {"GET": API_INTERNAL, "POST": API_GET_ONLY}),
    "api:report_pdf": (REP, {"GET": API_INTERNAL, "POST": API_GET_ONLY}),
    # Evidence packs, as on the report pages: admins and managers build (write:reports; each
    # a build of their own: 202) and download (packs.download); engineers and auditors are
    # refused with a 403 that says where to go instead. Only internal builds are served.
    "api:report_packs": (REP, {
        "GET": API_MANAGERS, "POST": exp(A=202, M=202, E=403, AU=403, EXP=401, ANON=401)}),
    "api:pack_build_detail": (PACK, {"GET": API_MANAGERS, "POST": API_GET_ONLY}),
    "api:pack_build_download": (PACK, {"GET": API_MANAGERS, "POST": API_GET_ONLY}),
}  # fmt: skip

#: Pages not yet wired to roles: only the anonymous answer (302 to login) is asserted. To
#: wire one, move it into MATRIX.
PENDING: dict[str, Kwargs] = {}

#: Unnamed routes outside the admin site.
#: ``admin/login/``: anonymous to the sign-in page, staff on to the admin, anyone else 403
#: (a redirect to sign in would loop back to the admin).
UNNAMED = {"admin/login/": exp(A=302, M=403, E=403, AU=403, EXP=403, ANON=302)}


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
        and name not in API_MATRIX
        and name not in PENDING
        and route not in UNNAMED
    ]
    assert not unknown, f"decide who may use these URLs and add them to MATRIX: {unknown}"
    known = set(MATRIX) | set(PENDING) | set(POST_MATRIX) | set(API_MATRIX)
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


@pytest.fixture
def api_clients(world) -> dict[str, Client]:
    from pixaudit.api.models import ApiToken
    from pixaudit.api.services import token_hash
    from tests.api.helpers import api_client, token_for

    # EXP: a token made while an invitation was active, held by the auditor whose access
    # has since ended.
    exp_token = token_for(world.auditor, ["read"])
    ApiToken.objects.filter(token_hash=token_hash(exp_token)).update(user=world.expired_auditor)
    return {
        "A": api_client(token_for(world.admin)),
        "M": api_client(token_for(world.manager)),
        "E": api_client(token_for(world.engineer)),
        "AU": api_client(token_for(world.auditor)),
        "EXP": api_client(exp_token),
        "ANON": api_client(None),
    }


def test_api_matrix(world, api_clients):
    """Every API route × method × role. Each request runs in a savepoint rolled back
    afterwards, so every role meets the same world."""
    failures = []
    for name, (kwargs, methods) in API_MATRIX.items():
        url = reverse(name, kwargs=kwargs(world))
        for method, expected in methods.items():
            for role in ROLES:
                with transaction.atomic():
                    call = getattr(api_clients[role], method.lower())
                    status = call(url, content_type="application/json").status_code
                    transaction.set_rollback(True)
                if status != expected[role]:
                    failures.append(
                        f"{method} {url} as {role}: {status}, expected {expected[role]}"
                    )
    assert not failures, "\n".join(failures)


def test_api_ignores_sessions(world, clients):
    """A signed-in browser session is not an API credential (no CSRF-able API)."""
    for name, (kwargs, _methods) in API_MATRIX.items():
        url = reverse(name, kwargs=kwargs(world))
        for role in ROLES:
            assert clients[role].get(url).status_code == 401, (name, role)


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
