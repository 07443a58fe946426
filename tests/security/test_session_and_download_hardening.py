"""Session rotation on MFA, the watermark inside auditor packs, logged artifact downloads,
and engagement reports that must stay inside the engagement's current window."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits.models import Engagement
from pixaudit.reports import signing
from pixaudit.reports.verify import verify_pack
from tests.reports.pack_helpers import pack_via_page
from tests.security.helpers import PASSWORD, client_for, totp_device_make, totp_now, user_make

pytestmark = pytest.mark.django_db


def test_mfa_verification_rotates_the_session_key():
    user = user_make(Role.ADMIN)
    device = totp_device_make(user)
    client = Client()
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    before = client.session.session_key
    response = client.post(reverse("accounts:mfa_verify"), {"token": totp_now(device)})
    assert response.status_code == 302
    assert client.session.session_key != before
    assert client.get("/catalog/").status_code == 200  # still signed in, and verified
    # The pre-verification session id no longer identifies anyone.
    stale = Client()
    stale.cookies["sessionid"] = before
    assert stale.get("/catalog/").status_code == 302


def test_mfa_enrolment_rotates_the_session_key():
    user = user_make(Role.COMPLIANCE_MANAGER)
    client = Client()
    client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    client.get(reverse("accounts:mfa_enrol"))
    before = client.session.session_key
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(reverse("accounts:mfa_enrol"), {"token": totp_now(device)})
    assert response.status_code == 200 and b"recovery" in response.content.lower()
    assert client.session.session_key != before
    assert client.get("/catalog/").status_code == 200


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_auditor_pack_holds_the_stamped_pdf_not_the_original(world, tmp_path):
    kwargs = {"pk": world.engagement.pk, "report_pk": world.report.pk}
    _build, data = pack_via_page(
        client_for(world.auditor, verified=False), reverse("audits:report_pack", kwargs=kwargs)
    )
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    with default_storage.open(world.report.file_path, "rb") as fh:
        original = fh.read()
    with zipfile.ZipFile(path) as zf:
        inside = zf.read("report.pdf")
        manifest = json.loads(zf.read("manifest.json"))
    assert inside != original  # the unstamped original never reaches an auditor
    assert world.auditor.email in _pdf_text(inside)
    assert "pixaudit report for engagement A" in _pdf_text(inside)
    # The manifest still names the recorded report, and says the copy is stamped.
    assert manifest["report"]["sha256"] == world.report.sha256
    assert manifest["report"]["stamped"] is True
    result = verify_pack(path, public_key_pem=signing.public_key_pem())
    assert result.ok, result.summary()


def test_internal_pack_keeps_the_original_pdf(world, tmp_path):
    _build, data = pack_via_page(
        client_for(world.manager), reverse("reports:pack", args=[world.report.pk])
    )
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert hashlib.sha256(zf.read("report.pdf")).hexdigest() == world.report.sha256
        assert "stamped" not in json.loads(zf.read("manifest.json"))["report"]


def test_internal_artifact_download_is_logged(world):
    item = world.evidence_in
    response = client_for(world.engineer).get(
        reverse("dashboard:evidence_artifact", args=[item.pk])
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action="evidence.downloaded")
    assert event.actor_id == world.engineer.pk
    assert event.object_id == str(item.pk) and event.details["sha256"] == item.sha256


def test_engagement_report_outside_the_current_window_is_refused(world):
    kwargs = {"pk": world.engagement.pk, "report_pk": world.report.pk}
    auditor = client_for(world.auditor, verified=False)
    assert auditor.get(reverse("audits:report_pdf", kwargs=kwargs)).status_code == 200
    # The window is narrowed after the report was rendered: the report now covers evidence
    # the auditor may no longer see.
    engagement = world.engagement
    Engagement.objects.filter(pk=engagement.pk).update(
        window_start=engagement.window_start + timedelta(days=10)
    )
    assert auditor.get(reverse("audits:report_pdf", kwargs=kwargs)).status_code == 404
    assert auditor.post(reverse("audits:report_pack", kwargs=kwargs)).status_code == 404
    page = auditor.get(reverse("audits:engagement_detail", args=[engagement.pk]))
    assert reverse("audits:report_pdf", kwargs=kwargs).encode() not in page.content


def test_role_change_in_the_django_admin_is_in_the_audit_log():
    admin = user_make(Role.ADMIN)
    target = user_make(Role.AUDITOR)
    client = client_for(admin)
    url = reverse("admin:accounts_user_change", args=[target.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(role=Role.ADMIN, is_staff="on", is_superuser="on", is_active="on",
                date_joined_0=target.date_joined.strftime("%Y-%m-%d"),
                date_joined_1=target.date_joined.strftime("%H:%M:%S"))  # fmt: skip
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("groups", None)
    data.pop("user_permissions", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    event = AuditEvent.objects.get(action="admin.change", object_id=str(target.pk))
    assert event.actor_id == admin.pk and event.object_type == "accounts.user"
    assert "role" in json.dumps(event.details).lower()


def test_bulk_delete_in_the_django_admin_is_in_the_audit_log():
    admin = user_make(Role.ADMIN)
    victims = [user_make(Role.ENGINEER), user_make(Role.ENGINEER)]
    response = client_for(admin).post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", "_selected_action": [u.pk for u in victims], "post": "yes"},
    )
    assert response.status_code == 302
    logged = set(
        AuditEvent.objects.filter(action="admin.delete").values_list("object_id", flat=True)
    )
    assert logged == {str(u.pk) for u in victims}
