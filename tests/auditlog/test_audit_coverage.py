"""Every state change and every download leaves an audit event.

The URL resolver lists every view of the project (as the permission matrix does). Each one
is classified here: ``CHANGES`` (a valid POST, made by a role allowed to, must record the
named action), ``DOWNLOADS`` (a GET must record the named action) or ``READS`` (pages and
status JSON: a GET is no attachment and a POST adds or removes no row anywhere). A new URL
that is in none of them fails ``test_every_url_is_classified``.

The admin site is covered separately: Django admin changes go through ModelAdmin's log
hooks, which ``pixaudit.accounts.admin`` wraps for every model, custom admin actions are
listed with the event they record, and every django-rq dashboard view is wrapped
(``pixaudit.auditlog.rq_dashboard``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.mfa import totp_device_pending
from pixaudit.accounts.models import Role
from pixaudit.api.services import token_create
from pixaudit.auditlog.models import AuditEvent
from pixaudit.auditlog.rq_dashboard import rq_audited
from pixaudit.audits.services import evidence_request_answer
from pixaudit.commitments.selectors import trust_page_digest, trust_page_entries
from pixaudit.controls.models import Control
from pixaudit.evidence.models import Connection
from pixaudit.evidence.services.append import evidence_append
from pixaudit.people.services import hr_upload, lifecycle_run
from pixaudit.reviews.models import Campaign
from pixaudit.reviews.services import entries_decide
from tests.auditlog.api_cases import (
    API_CHANGES,
    API_DOWNLOADS,
    API_READS,
    Kwargs,
    first_entry,
    upload_data,
)
from tests.security.fixtures import World
from tests.security.helpers import (
    PASSWORD,
    client_for,
    pdf_make,
    totp_device_make,
    totp_now,
    user_make,
)
from tests.security.test_permission_matrix import MATRIX, UNNAMED, all_patterns

pytestmark = pytest.mark.django_db


def _kwargs(name: str) -> Kwargs:
    """The URL kwargs the permission matrix uses for ``name`` (one source of sample ids)."""
    return MATRIX[name][0]


@dataclass
class Case:
    """A request as ``who`` and the audit action it must record."""

    who: Callable[[World], Client]
    action: str
    data: Callable[[World], dict] = field(default=lambda w: {})
    kwargs: Kwargs | None = None


def as_role(role: str) -> Callable[[World], Client]:
    def make(w: World) -> Client:
        user = {"A": w.admin, "M": w.manager, "E": w.engineer, "AU": w.auditor}[role]
        return client_for(user, verified=role in ("A", "M"))

    return make


def _anonymous(w: World) -> Client:
    return client_for(None)


def _enrolling_engineer(w: World) -> Client:
    return client_for(w.engineer, verified=False)


def _verifying_manager(w: World) -> Client:
    user = user_make(Role.COMPLIANCE_MANAGER)
    totp_device_make(user)
    return client_for(user, verified=False)


def _enrol_data(w: World) -> dict:
    return {"token": totp_now(totp_device_pending(user=w.engineer))}


def _verify_data(w: World) -> dict:
    device = TOTPDevice.objects.filter(confirmed=True).order_by("-id").first()
    return {"token": totp_now(device)}


def _aws_form(name: str) -> dict:
    return {"name": name, "mode": "account", "collectors": ["aws_s3_buckets", "aws_kms_keys"],
            "profile": "pixaudit-no-such-profile", "regions": "us-east-1",
            "member_role_name": "pixaudit-readonly", "schedule_minutes": "60"}  # fmt: skip


def _engagement_data(w: World) -> dict:
    today = timezone.now().date()
    return {"name": "SOC 2 Type II 2027", "frameworks": [w.soc2.pk],
            "window_start": (today - timedelta(days=10)).isoformat(),
            "window_end": today.isoformat()}  # fmt: skip


def _answered(w: World) -> dict:
    evidence_request_answer(evidence_request=w.request, actor=w.manager, note="See the log.")
    return {"decision": "accept", "note": ""}


def _campaign_data(w: World) -> dict:
    Campaign.objects.filter(pk=w.campaign.pk).update(status=Campaign.Status.CANCELLED)
    return {"connection": str(w.campaign.connection_id), "name": "Q2 review",
            "due_on": (timezone.now().date() + timedelta(days=7)).isoformat()}  # fmt: skip


def _all_decided(w: World) -> dict:
    decisions = {e.pk: ("keep", "") for e in w.campaign.entries.all()}
    entries_decide(campaign=w.campaign, decisions=decisions, user=w.manager)
    return {}


def _task_closed(w: World) -> dict:
    from pixaudit.tasks.services import task_close

    task_close(task=w.task, actor=w.engineer)
    return {"reason": "Not done after all"}


_HR_CSV = (
    b"employee_id,name,work_email,status,start_date,termination_date\n"
    b"E1,Alice,alice@acme.example,active,2021-03-01,\n"
)


def _hr_connection(w: World) -> Connection:
    return Connection.objects.create(name="HR export", collector_key="hris_people",
                                     params={"provider": "file"})  # fmt: skip


def _hrupload_data(w: World) -> dict:
    upload = SimpleUploadedFile("people.csv", _HR_CSV, "text/csv")
    return {"connection": str(_hr_connection(w).pk), "file": upload}


def _dsr_data(w: World) -> dict:
    received = timezone.now().date() - timedelta(days=2)
    return {"reference": "DSR-AUDIT-1", "kind": "access", "received_on": received.isoformat()}


def _dsr_complete_data(w: World) -> dict:
    upload = SimpleUploadedFile("answer.pdf", pdf_make("answered"), "application/pdf")
    return {"completed_on": timezone.now().date().isoformat(), "file": upload}


def _leaver_test_data(w: World) -> dict:
    hr_upload(connection=_hr_connection(w), filename="people.csv", data=_HR_CSV)
    return {"leaver_days": "1", "joiner_grace_days": "0"}


def _review_data(w: World) -> dict:
    hr_upload(connection=_hr_connection(w), filename="people.csv", data=_HR_CSV)
    gh = Connection.objects.create(name="GitHub acme", collector_key="github_org", params={})
    row = {"account_id": "7", "display_name": "mallory", "email": None, "status": "active",
           "resource": "org:acme/user:mallory", "source": "github:acme"}  # fmt: skip
    now = timezone.now()
    evidence_append(collector_key="github_org", document={"rows": [row]}, connection_id=gh.pk,
                    collected_at=now, expires_at=now + timedelta(days=1), rows_count=1)  # fmt: skip
    lifecycle_run()
    return {"connection": str(gh.pk), "name": "Nobody's accounts",
            "due_on": (now.date() + timedelta(days=7)).isoformat()}  # fmt: skip


#: URL name -> a valid state-changing POST and the action it must record.
CHANGES: dict[str, Case] = {
    "accounts:user_invite": Case(
        as_role("A"),
        "user.invited",
        lambda w: {"email": "new.person@example.com", "role": "engineer"},
    ),  # fmt: skip
    "accounts:user_role": Case(
        as_role("A"), "user.role_changed", lambda w: {"role": "compliance_manager"}
    ),  # fmt: skip
    "accounts:user_active": Case(as_role("A"), "user.deactivated", lambda w: {"active": "0"}),
    "accounts:user_mfa_reset": Case(
        as_role("A"),
        "mfa.reset",
        lambda w: {"confirm": "yes"},
        kwargs=lambda w: {"pk": w.manager.pk},
    ),  # fmt: skip
    "accounts:user_invitation_resend": Case(as_role("A"), "user.invitation_resent"),
    "accounts:invitation_accept": Case(
        _anonymous,
        "user.invitation_accepted",
        lambda w: {"password1": PASSWORD, "password2": PASSWORD},
    ),  # fmt: skip
    "accounts:login": Case(
        _anonymous,
        "auth.login",
        lambda w: {"username": w.engineer.username, "password": PASSWORD},
    ),  # fmt: skip
    "accounts:logout": Case(as_role("E"), "auth.logout"),
    "accounts:mfa_enrol": Case(_enrolling_engineer, "mfa.enrolled", _enrol_data),
    "accounts:mfa_verify": Case(_verifying_manager, "mfa.verified", _verify_data),
    "accounts:mfa_recovery_codes_regenerate": Case(as_role("A"), "mfa.recovery_codes_generated"),
    "audits:engagement_create": Case(as_role("M"), "engagement.created", _engagement_data),
    "audits:engagement_edit": Case(
        as_role("M"),
        "engagement.updated",
        lambda w: {**_engagement_data(w), "include_privacy_register": "on"},
    ),
    "audits:invitation_accept": Case(
        _anonymous,
        "invitation.accepted",
        lambda w: {"password1": PASSWORD, "password2": PASSWORD},
    ),  # fmt: skip
    "audits:invitation_create": Case(
        as_role("M"), "invitation.created", lambda w: {"email": "new@audit.example"}
    ),
    "audits:invitation_revoke": Case(as_role("M"), "invitation.revoked"),
    "audits:invitation_resend": Case(as_role("M"), "invitation.email_queued"),
    "audits:report_generate": Case(
        as_role("M"), "report.requested", lambda w: {"framework": w.soc2.key}
    ),
    "audits:report_pack": Case(as_role("AU"), "engagement.pack_build_requested"),
    "reports:pack": Case(as_role("M"), "pack.build_requested"),
    "audits:request_create": Case(
        as_role("AU"),
        "evidence_request.created",
        lambda w: {"control": w.control.pk, "description": "Badge logs for March"},
    ),  # fmt: skip
    "audits:request_answer": Case(
        as_role("M"), "evidence_request.answered", lambda w: {"note": "See the attached log."}
    ),
    "audits:request_review": Case(as_role("AU"), "evidence_request.accepted", _answered),
    "audits:sample_list": Case(
        as_role("AU"), "sample.drawn", lambda w: {"kind": "days", "size": 3}
    ),
    "audits:sample_result_create": Case(
        as_role("AU"),
        "sample.result_recorded",
        lambda w: {
            "position": "2",
            "outcome": "exception",
            "note": "No approval ticket",
            "file": SimpleUploadedFile("note.txt", b"missing approval\n"),
        },
    ),  # fmt: skip
    "reports:scope": Case(
        as_role("M"),
        "scope_statement.saved",
        lambda w: {"system_description": "The PixMuse image service.", "availability": "on"},
    ),  # fmt: skip
    "reports:narrative_edit": Case(
        as_role("M"),
        "control_narrative.saved",
        lambda w: {"text": "IT reviews access quarterly in the IdP."},
    ),  # fmt: skip
    "dashboard:control_owner": Case(
        as_role("M"), "control.owner_assigned", lambda w: {"owner": w.manager.pk}
    ),
    "dashboard:connection_create": Case(
        as_role("E"),
        "connection.created",
        lambda w: {
            "collector": "demo_inventory",
            "name": "second demo",
            "enabled": "on",
            "p_api_token": "a-secret-token",
        },
    ),  # fmt: skip
    "dashboard:connection_edit": Case(
        as_role("E"),
        "connection.updated",
        lambda w: {"name": "demo renamed", "enabled": "on", "p_simulate_delay": "0.5"},
    ),  # fmt: skip
    "dashboard:connection_run": Case(as_role("E"), "connection.run_requested"),
    "dashboard:evidence_verify": Case(as_role("E"), "evidence.verified"),
    "dashboard:soa_edit": Case(
        as_role("M"),
        "soa.decided",
        lambda w: {"applicable": "no", "justification": "No cryptography in scope."},
    ),  # fmt: skip
    "reports:list": Case(
        as_role("M"),
        "report.requested",
        lambda w: {"framework": "soc2-2017", "start": "2026-01-01", "end": "2026-03-31"},
    ),  # fmt: skip
    "reviews:campaign_create": Case(as_role("M"), "review.campaign_start", _campaign_data),
    "reviews:campaign_decide": Case(
        as_role("M"), "review.decide", lambda w: {f"decision-{first_entry(w).pk}": "keep"}
    ),
    "reviews:campaign_assign": Case(
        as_role("M"),
        "review.assign",
        lambda w: {f"reviewer-{first_entry(w).pk}": str(w.engineer.pk)},
    ),  # fmt: skip
    "reviews:campaign_complete": Case(as_role("M"), "review.campaign_complete", _all_decided),
    "reviews:campaign_cancel": Case(as_role("M"), "review.campaign_cancel"),
    "manualevidence:upload": Case(as_role("M"), "manual_evidence.upload", upload_data),
    "people:run": Case(as_role("M"), "people.lifecycle_run", _leaver_test_data),
    "people:mappings": Case(
        as_role("M"),
        "people.declaration_saved",
        lambda w: {
            "action": "declare",
            "d-resource": "org:acme/user:deploy-bot",
            "d-kind": "service",
            "d-employee_id": "E1",
        },
    ),  # fmt: skip
    "people:hr_upload": Case(as_role("M"), "people.hr_uploaded", _hrupload_data),
    "people:review": Case(as_role("M"), "review.campaign_start", _review_data),
    "privacy:create": Case(as_role("M"), "privacy.request_created", _dsr_data),
    "privacy:edit": Case(as_role("M"), "privacy.request_updated", _dsr_data),
    "privacy:complete": Case(as_role("M"), "privacy.request_completed", _dsr_complete_data),
    "manualevidence:requirement_add": Case(
        as_role("M"),
        "manual_requirement.set",
        lambda w: {"control": "soc2-2017:CC6.2", "reason": "Signed policy"},
    ),  # fmt: skip
    "manualevidence:requirement_remove": Case(as_role("M"), "manual_requirement.remove"),
    "awsorg:create": Case(as_role("E"), "aws_integration.created", lambda w: _aws_form("AWS 2")),
    "awsorg:edit": Case(as_role("E"), "aws_integration.updated", lambda w: _aws_form("Renamed")),
    "awsorg:test": Case(as_role("E"), "aws_integration.tested"),
    "awsorg:run": Case(as_role("E"), "aws_integration.run_requested"),
    "commitments:trust_page_toggle": Case(
        as_role("M"),
        "trust_page.set",
        lambda w: {
            "enabled": "on",
            "confirm": "yes",
            "digest": trust_page_digest(trust_page_entries()),
        },
    ),  # fmt: skip
    "exceptions:update": Case(
        as_role("M"), "exception.updated", lambda w: {"note": "Fix in the next release."}
    ),
    "exceptions:acceptance_request": Case(
        as_role("E"),
        "exception.acceptance_requested",
        lambda w: {
            "reason": "Vendor patch pending.",
            "expires_on": (timezone.now().date() + timedelta(days=30)).isoformat(),
        },
    ),  # fmt: skip
    "exceptions:acceptance_decide": Case(
        as_role("M"), "exception.acceptance_approved", lambda w: {"decision": "approve"}
    ),
    "exceptions:acceptance_revoke": Case(as_role("M"), "exception.acceptance_revoked"),
    "tasks:task_create": Case(
        as_role("E"), "task.created", lambda w: {"title": "Check backups", "kind": "other"}
    ),
    "tasks:task_assign": Case(as_role("M"), "task.assigned", lambda w: {"assignee": w.admin.pk}),
    "tasks:task_close": Case(as_role("E"), "task.closed"),
    "tasks:task_reopen": Case(as_role("M"), "task.reopened", _task_closed),
    "tasks:task_comment": Case(
        as_role("E"), "task.commented", lambda w: {"body": f"Done, @{w.manager.username}?"}
    ),
    "tasks:task_attach": Case(
        as_role("E"),
        "task.attachment_added",
        lambda w: {"file": SimpleUploadedFile("proof.pdf", pdf_make("proof"), "application/pdf")},
    ),  # fmt: skip
    "notifications:preferences": Case(
        as_role("E"),
        "notifications.preferences_set",
        lambda w: {"email_events": ["task.assigned"], "digest": "on"},
    ),  # fmt: skip
    "notifications:endpoint_create": Case(
        as_role("M"),
        "notifications.endpoint_created",
        lambda w: {
            "name": "Chat",
            "kind": "slack",
            "url": "https://chat.example.com/hook",
            "events": ["control.failing"],
        },
    ),  # fmt: skip
    "notifications:endpoint_update": Case(
        as_role("M"),
        "notifications.endpoint_updated",
        lambda w: {
            "name": "SIEM 2",
            "url": w.endpoint.url,
            "events": ["control.recovered"],
            "enabled": "on",
        },
    ),  # fmt: skip
    "notifications:endpoint_rotate": Case(as_role("M"), "notifications.endpoint_secret_rotated"),
    "notifications:endpoint_test": Case(as_role("M"), "notifications.endpoint_tested"),
}


def _vendor_form(name: str) -> dict:
    return {"name": name, "purpose": "Hosting", "criticality": "high", "is_processor": "on"}


_VENDOR_CSV = b"name,purpose,criticality,processor\nImported Co,Analytics,low,no\n"
CHANGES.update({
    "vendors:create": Case(as_role("M"), "vendor.created", lambda w: _vendor_form("New Co")),
    "vendors:edit": Case(as_role("M"), "vendor.updated", lambda w: _vendor_form("Matrix vendor")),
    "vendors:delete": Case(as_role("M"), "vendor.deleted", lambda w: {"confirm": "yes"}),
    "vendors:upload": Case(as_role("M"), "vendor.file_added", lambda w: {
        "kind": "report", "file": SimpleUploadedFile("soc2.pdf", pdf_make("soc2"))}),
    "vendors:incident_add": Case(as_role("M"), "vendor.incident_added", lambda w: {
        "i-description": "Breach", "i-notified_on": timezone.localdate().isoformat(),
        "i-notify_by": timezone.localdate().isoformat()}),
    "vendors:incident_handle": Case(as_role("M"), "vendor.incident_handled", lambda w: {
        "handled_on": timezone.localdate().isoformat()}),
    "vendors:import": Case(as_role("M"), "vendor.imported", lambda w: {
        "file": SimpleUploadedFile("vendors.csv", _VENDOR_CSV)}),
    "vendors:public_list": Case(as_role("M"), "vendor.public_list_changed",
                                lambda w: {"publish": "on"}),
})  # fmt: skip

CHANGES["api:tokens"] = Case(
    as_role("E"), "api_token.created",
    lambda w: {"name": "deploy", "scopes": ["read"], "kind": "personal", "expires_in_days": 30},
)  # fmt: skip
CHANGES["api:token_revoke"] = Case(
    as_role("E"), "api_token.revoked",
    kwargs=lambda w: {"pk": token_create(user=w.engineer, name="x", scopes=["read"]).token.pk},
)  # fmt: skip


#: URL name -> a GET that hands out content (files, exports, the report) and its action.
DOWNLOADS: dict[str, Case] = {
    "audits:evidence_download": Case(as_role("AU"), "evidence.downloaded"),
    "audits:report_pdf": Case(as_role("AU"), "engagement.download"),
    "audits:pack_download": Case(as_role("AU"), "engagement.download"),
    "audits:sample_result_file": Case(as_role("AU"), "sample.result_file_downloaded"),
    "audits:sample_workbook": Case(as_role("AU"), "sample.workbook_downloaded"),
    "auditlog:event_export": Case(as_role("A"), "auditlog.exported"),
    "dashboard:evidence_artifact": Case(as_role("E"), "evidence.downloaded"),
    "reports:download": Case(as_role("E"), "report.downloaded"),
    "reports:preview": Case(as_role("E"), "report.previewed"),
    "reports:pack_download": Case(as_role("M"), "pack.downloaded"),
    "reports:signing_key_pem": Case(as_role("E"), "signing_key.downloaded"),
    "reviews:campaign_snapshot": Case(as_role("M"), "review.snapshot_downloaded"),
    "manualevidence:download": Case(as_role("E"), "manual_evidence.downloaded"),
    "privacy:evidence_download": Case(as_role("M"), "privacy.evidence_downloaded"),
    "exceptions:export": Case(as_role("E"), "exceptions.exported"),
    "exceptions:engagement_export": Case(as_role("AU"), "exceptions.exported"),
    "tasks:attachment_download": Case(as_role("E"), "task.attachment_downloaded"),
    "awsorg:template": Case(as_role("E"), "aws_integration.template_downloaded"),
    "awsorg:stackset": Case(as_role("E"), "aws_integration.template_downloaded"),
    "vendors:export": Case(as_role("E"), "vendor.exported"),
    "vendors:file_download": Case(as_role("E"), "vendor.file_downloaded"),
}

#: Pages and status JSON: they change nothing and hand out no file.
READS = frozenset({
    "accounts:mfa_settings", "accounts:user_list", "accounts:user_detail",
    # 404 while single sign-on is off; when on, the sign-in is audited (auth.login,
    # auth.login_failed, user.created: tests/accounts/test_oidc.py).
    "accounts:oidc_login", "accounts:oidc_callback",
    "controls:framework_list", "controls:framework_detail", "controls:control_detail",
    "audits:engagement_list", "audits:engagement_detail", "audits:evidence_list",
    "audits:evidence_detail", "audits:request_list", "audits:request_detail",
    "audits:sample_detail", "audits:control_list", "audits:control_detail",
    "reports:narratives",
    "auditlog:event_list",
    "dashboard:home", "dashboard:overview", "dashboard:control_list", "dashboard:control_detail",
    "dashboard:framework_coverage",
    "dashboard:connection_list", "dashboard:run_list", "dashboard:run_detail",
    "dashboard:run_status", "dashboard:evidence_list", "dashboard:evidence_detail",
    "dashboard:soa_list",
    "reports:detail", "reports:status", "reports:signing_key",
    "reports:pack_detail", "reports:pack_status", "audits:pack_detail", "audits:pack_status",
    "reviews:campaign_list", "reviews:campaign_detail",
    "people:overview",
    "vendors:list", "vendors:detail",
    "privacy:list",
    "manualevidence:list", "manualevidence:detail",
    "commitments:list", "commitments:detail", "commitments:trust_page_preview",
    "tasks:my_work", "tasks:task_list", "tasks:task_detail",
    "notifications:endpoint_list", "notifications:endpoint_detail",
    "trust_page",
    "exceptions:register", "exceptions:detail", "exceptions:engagement_register",
    "awsorg:list", "awsorg:detail", "awsorg:run_detail",
    # The public signing key (served inline to anyone, so auditors can pin it): deliberately
    # not logged, or anonymous requests could grow the append-only log without bound.
    "signing_key_public",
    # The API reference page and its OpenAPI schema (the code's shape, no data).
    "api:reference", "api:reference_schema",
})  # fmt: skip


@pytest.mark.parametrize("name", sorted(API_CHANGES) + sorted(API_DOWNLOADS))
def test_each_api_change_and_download_is_audited_with_the_token(world, name):
    case = API_CHANGES.get(name) or API_DOWNLOADS[name]
    with transaction.atomic():
        client = case.who(world)
        url = reverse(name, kwargs=case.kwargs(world))
        since = _last_event_id()
        if name in API_DOWNLOADS:
            response = client.get(url)
        elif case.multipart:
            response = client.post(url, case.body(world))
        else:
            response = client.post(url, case.body(world), content_type="application/json")
        assert response.status_code in (200, 201, 202), (name, response.content[:300])
        events = list(AuditEvent.objects.filter(pk__gt=since).values("action", "details"))
        transaction.set_rollback(True)
    matching = [e for e in events if e["action"] == case.action]
    assert matching, f"{name} recorded {[e['action'] for e in events]}, expected {case.action}"
    assert all("pxa_" in e["details"].get("api_token", "") for e in matching), matching


#: Custom Django admin actions (beyond "delete selected", logged by the admin's own hook).
ADMIN_ACTIONS = {"accounts.user": {"mfa_reset": "mfa.reset"}}


def _new_actions(since: int) -> list[str]:
    return list(AuditEvent.objects.filter(pk__gt=since).values_list("action", flat=True))


def _last_event_id() -> int:
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0


def _url(name: str, case: Case, world: World) -> str:
    return reverse(name, kwargs=(case.kwargs or _kwargs(name))(world))


def test_every_url_is_classified():
    names = {name for name, route in all_patterns()
             if not route.startswith("admin/") and route not in UNNAMED}  # fmt: skip
    api = set(API_CHANGES) | set(API_DOWNLOADS) | API_READS
    unclassified = sorted(names - set(CHANGES) - set(DOWNLOADS) - READS - api)
    assert not unclassified, (
        f"say what these URLs change or hand out (CHANGES / DOWNLOADS / READS): {unclassified}"
    )
    twice = (set(CHANGES) & set(DOWNLOADS)) | ((set(CHANGES) | set(DOWNLOADS)) & READS)
    assert not twice, f"classified twice: {sorted(twice)}"
    stale = (set(CHANGES) | set(DOWNLOADS) | READS | api) - names
    assert not stale, f"no longer URLs of the project: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_each_state_change_is_audited(world, name):
    case = CHANGES[name]
    with transaction.atomic():
        client = case.who(world)
        data = case.data(world)
        url = _url(name, case, world)
        since = _last_event_id()
        response = client.post(url, data)
        assert response.status_code in (200, 302), (name, response.status_code)
        if response.status_code == 200:  # a form re-rendered: show why
            form = (response.context or {}).get("form")
            assert form is None or not form.errors, (name, form.errors)
        actions = _new_actions(since)
        transaction.set_rollback(True)
    assert case.action in actions, f"POST {url} recorded {actions}, expected {case.action}"


@pytest.mark.parametrize("name", sorted(DOWNLOADS))
def test_each_download_is_audited(world, name):
    case = DOWNLOADS[name]
    client = case.who(world)
    url = _url(name, case, world)
    since = _last_event_id()
    response = client.get(url)
    assert response.status_code == 200, (name, response.status_code)
    b"".join(response.streaming_content if response.streaming else [response.content])
    actions = _new_actions(since)
    assert case.action in actions, f"GET {url} recorded {actions}, expected {case.action}"


def _row_counts() -> dict[str, int]:
    models = [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy
              and m._meta.label_lower != "sessions.session"]  # fmt: skip
    return {m._meta.label_lower: m._default_manager.count() for m in models}


def _reader(name: str, world: World) -> Client:
    """A client whose role may open the page (per the permission matrix), else anonymous."""
    expected = MATRIX[name][1]
    for role, user in (("A", world.admin), ("M", world.manager), ("E", world.engineer),
                       ("AU", world.auditor)):  # fmt: skip
        if expected[role] == 200:
            return client_for(user, verified=role in ("A", "M"))
    return client_for(None)


def test_reads_change_nothing_and_hand_out_no_file(world):
    failures = []
    for name in sorted(READS):
        client = _reader(name, world)
        url = reverse(name, kwargs=_kwargs(name)(world))
        response = client.get(url)
        if "attachment" in response.get("Content-Disposition", ""):
            failures.append(f"GET {url} is a download: classify it in DOWNLOADS")
        with transaction.atomic():
            before = _row_counts()
            client.post(url, {})
            after = _row_counts()
            transaction.set_rollback(True)
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        if changed:
            failures.append(f"POST {url} changed {changed}: classify it in CHANGES")
    assert not failures, "\n".join(failures)


def test_admin_site_changes_are_audited():
    """Django admin writes go through ModelAdmin's (wrapped) log hooks; custom actions and
    the django-rq dashboard record their own events."""
    assert getattr(admin.ModelAdmin, "_pixaudit_audited", False)
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        for hook in ("log_addition", "log_change", "log_deletions"):
            assert getattr(type(model_admin), hook) is getattr(admin.ModelAdmin, hook), (
                f"{label} overrides {hook}: its admin changes would escape the audit log"
            )
        custom = {a if isinstance(a, str) else a.__name__ for a in (model_admin.actions or ())}
        custom -= {"delete_selected"}
        assert custom <= set(ADMIN_ACTIONS.get(label, {})), (
            f"{label}: admin actions {sorted(custom)} must be listed with their audit event"
        )
    rq_views = list(_rq_patterns(get_resolver()))
    assert rq_views, "the django-rq dashboard is not mounted"
    # stats.json and metrics answer GET only (API-token reads, not wrapped by django-rq).
    unaudited = [str(p.pattern) for p in rq_views
                 if not getattr(p.callback, "pixaudit_audited", False)
                 and not str(p.pattern).startswith(("^stats.json", "^metrics"))]  # fmt: skip
    assert not unaudited, f"django-rq views without audit: {unaudited}"


def _rq_patterns(resolver):
    from django.urls import URLPattern, URLResolver

    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "django_rq":
                yield from (p for p in pattern.url_patterns if isinstance(p, URLPattern))
            else:
                yield from _rq_patterns(pattern)


def test_rq_dashboard_actions_are_audited(world, rf):
    """A POST to a wrapped dashboard view (here: emptying a queue) is recorded."""
    from django.http import HttpResponse

    def clear_queue(request, queue_index):
        return HttpResponse("emptied")

    view = rq_audited(clear_queue)
    request = rf.post("/admin/rq/queues/0/empty/")
    request.user = world.admin
    since = _last_event_id()
    assert view(request, queue_index=0).status_code == 200
    event = AuditEvent.objects.get(pk__gt=since)
    assert event.action == "rq.clear_queue" and event.details["queue_index"] == "0"
    request = rf.get("/admin/rq/queues/0/empty/")
    request.user = world.admin
    view(request, queue_index=0)
    assert AuditEvent.objects.filter(pk__gt=event.pk).count() == 0  # GET changes nothing


def test_connection_audit_names_what_changed_never_a_secret(world):
    client = client_for(world.engineer, verified=False)
    url = reverse("dashboard:connection_edit", args=[world.connection.pk])
    response = client.post(url, {"name": "demo", "enabled": "on", "p_simulate_delay": "0.5",
                                 "p_api_token": "s3cr3t-value-123"})  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="connection.updated").latest("pk")
    assert event.actor_id == world.engineer.pk
    assert event.details == {"fields": [], "params": ["simulate_delay"],
                             "secrets_set": ["api_token"], "secrets_removed": []}  # fmt: skip
    assert "s3cr3t" not in str(AuditEvent.objects.values_list("details", flat=True))
    connection = Connection.objects.get(pk=world.connection.pk)
    assert connection.updated_by == world.engineer
    page = client.get(url).content.decode()
    assert f"by {world.engineer.username}" in page
    client.post(url, {"name": "demo", "enabled": "on", "clear_api_token": "on"})
    event = AuditEvent.objects.filter(action="connection.updated").latest("pk")
    assert event.details["secrets_removed"] == ["api_token"]
    assert event.details["params"] == ["simulate_delay"]  # back to the default


def test_soa_decision_audit_records_the_previous_decision(world):
    control = Control.objects.get(framework__key="iso27001-2022", ref="A.8.24")
    client = client_for(world.manager)
    url = reverse("dashboard:soa_edit", args=["iso27001-2022", "A.8.24"])
    client.post(url, {"applicable": "no", "justification": "No cryptography in scope."})
    client.post(url, {"applicable": "yes", "justification": ""})
    first, second = AuditEvent.objects.filter(action="soa.decided").order_by("pk")
    assert first.details["previous"] is None and first.details["applicable"] is False
    assert second.details["previous"]["applicable"] is False
    assert second.details["control"] == control.address and second.actor_id == world.manager.pk
