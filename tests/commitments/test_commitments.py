"""Commitments: loading, live status, the "every claim backed" page, the trust page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from collectors.base import Finding, Severity, Status
from pixaudit.commitments.models import Commitment
from pixaudit.commitments.selectors import commitment_states
from pixaudit.commitments.services import (
    INTERNAL_ASSERTIONS,
    CommitmentsFileError,
    commitments_load,
    commitments_load_builtin,
    trust_page_set,
)
from pixaudit.evidence.services.append import evidence_append
from pixaudit.posture.selectors import assertion_catalog
from tests.manual.test_manual_upload import PDF, upload
from tests.reviews.fixtures import client_for

pytestmark = pytest.mark.django_db

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/secret-lb/1/2"
MESSAGE = "secret-lb listener accepts TLS 1.0 (internal detail)"


def _result(assertion: str, status: str, resource: str = ARN, message: str = MESSAGE, age=0):
    now = timezone.now() - timedelta(days=age)
    finding = Finding(assertion, resource, Status(status), Severity.HIGH, message)
    return evidence_append(
        collector_key=assertion.split(".")[0], document={"a": assertion, "s": status, "t": now},
        collected_at=now, expires_at=now + timedelta(hours=6), findings=[finding],
    )  # fmt: skip


def _state(key: str):
    return next(s for s in commitment_states() if s.commitment.key == key)


def test_builtin_policy_loads_with_real_assertion_ids(catalogs):
    result = commitments_load_builtin()
    assert result.created >= 12
    keys = set(Commitment.objects.values_list("key", flat=True))
    assert {"tls13-in-transit", "aes256-at-rest", "mfa-admin-access", "access-reviews",
            "backups-disaster-recovery", "image-deletion-7-days", "monitoring-24-7",
            "breach-notification-72h", "processor-agreements", "penetration-testing",
            "soc2-type2", "iso27001", "role-based-access"} <= keys  # fmt: skip
    known = set(assertion_catalog())
    for commitment in Commitment.objects.all():
        for assertion_id in commitment.assertion_ids:
            assert assertion_id in known | INTERNAL_ASSERTIONS, assertion_id
    again = commitments_load_builtin()
    assert (again.created, again.removed) == (0, 0)
    call_command("load_commitments")


def test_invalid_file_is_refused(catalogs, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "commitments:\n  - key: x\n    title: X\n    statement: S\n"
        "    assertions: [nope.nothing]\n    controls: ['soc2-2017:ZZ9']\n"
    )
    with pytest.raises(CommitmentsFileError, match="unknown assertion") as info:
        commitments_load(path=path)
    assert "ZZ9" in str(info.value)
    assert not Commitment.objects.exists()


def test_live_status_from_results_and_manual_evidence(media_root, catalogs, users):
    commitments_load_builtin()
    assert _state("tls13-in-transit").status == "no_evidence"
    assert _state("penetration-testing").status == "manual_pending"
    _result("tls_endpoints.tls13_supported", "pass")
    state = _state("tls13-in-transit")
    assert state.status == "passing" and state.last_verified_at is not None
    _result("aws_elbv2_listeners.tls_policy", "fail")
    assert _state("tls13-in-transit").status == "failing"
    _result("aws_elbv2_listeners.tls_policy", "pass", age=1)  # passes, but evidence expired
    assert _state("tls13-in-transit").status == "passing"  # the TLS endpoint result is fresh
    upload(PDF, "pentest.pdf", users.manager, control_addresses=["soc2-2017:CC4.1"])
    pentest = _state("penetration-testing")
    assert pentest.status == "passing" and pentest.manual_items
    today = timezone.now().date()
    upload(PDF + b"%x\n", "certificate.pdf", users.manager, recurrence="",
           effective_on=today - timedelta(days=30), valid_until=today - timedelta(days=1),
           control_addresses=["iso27001-2022:A.5.35"])  # fmt: skip
    assert _state("iso27001").status == "manual_pending"  # its only proof has expired


def test_stale_results(media_root, catalogs):
    commitments_load_builtin()
    _result("aws_guardduty.enabled", "pass", age=2)
    assert _state("monitoring-24-7").status == "stale"


def test_every_claim_backed_page(media_root, catalogs, users):
    commitments_load_builtin()
    _result("tls_endpoints.tls13_supported", "fail")
    for user in (users.admin, users.manager, users.engineer):
        page = client_for(user).get(reverse("commitments:list"))
        assert page.status_code == 200 and b"TLS 1.3 encryption" in page.content
    assert client_for(users.auditor).get(reverse("commitments:list")).status_code == 403
    detail = client_for(users.engineer).get(
        reverse("commitments:detail", args=["tls13-in-transit"])
    )
    assert detail.status_code == 200 and ARN.encode() in detail.content  # internal: details


def test_trust_page_is_off_by_default_and_reveals_no_internals(media_root, catalogs, users):
    commitments_load_builtin()
    item = _result("tls_endpoints.tls13_supported", "fail")
    anonymous = client_for(None)
    assert anonymous.get(reverse("trust_page")).status_code == 404
    # Only managers publish it.
    assert (
        client_for(users.engineer)
        .post(reverse("commitments:trust_page_toggle"), {"enabled": "on"})
        .status_code
        == 403
    )
    manager = client_for(users.manager)
    digest = manager.get(reverse("commitments:trust_page_preview")).context["digest"]
    manager.post(
        reverse("commitments:trust_page_toggle"),
        {"enabled": "on", "confirm": "yes", "digest": digest},
    )
    page = anonymous.get(reverse("trust_page"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "TLS 1.3 encryption for all data in transit" in html
    assert "Attention needed" in html and "Last verified" in html
    for secret in (ARN, "arn:aws", "secret-lb", MESSAGE, item.sha256, item.chain_hash,
                   "tls_endpoints", "soc2-2017", "pixaudit 0."):  # fmt: skip
        assert secret not in html, secret
    trust_page_set(enabled=False, user=users.manager)
    assert anonymous.get(reverse("trust_page")).status_code == 404


def test_internal_only_commitments_are_not_public(media_root, catalogs, users):
    commitments_load_builtin()
    Commitment.objects.filter(key="iso27001").update(public=False)
    trust_page_set(enabled=True, user=users.manager)
    html = client_for(None).get(reverse("trust_page")).content.decode()
    assert "ISO 27001" not in html and "SOC 2 Type II" in html


# --- Publishing: preview, then confirm (issue 12) -------------------------------------------


def test_publishing_needs_the_preview_and_a_confirmation(media_root, catalogs, users):
    from pixaudit.auditlog.models import AuditEvent

    commitments_load_builtin()
    Commitment.objects.filter(key="iso27001").update(public=False)
    _result("tls_endpoints.tls13_supported", "fail")
    manager = client_for(users.manager)
    toggle = reverse("commitments:trust_page_toggle")

    # One click no longer publishes: it leads to the preview.
    listing = manager.get(reverse("commitments:list")).content.decode()
    assert reverse("commitments:trust_page_preview") in listing
    response = manager.post(toggle, {"enabled": "on"})
    assert response.status_code == 302
    assert response["Location"] == reverse("commitments:trust_page_preview")
    assert client_for(None).get(reverse("trust_page")).status_code == 404

    # The preview shows exactly the public content, then asks for a confirmation.
    preview = manager.get(reverse("commitments:trust_page_preview"))
    html = preview.content.decode()
    public_entries = preview.context["entries"]
    assert [e.title for e in public_entries] == list(
        Commitment.objects.filter(public=True).values_list("title", flat=True)
    )
    assert "TLS 1.3 encryption for all data in transit" in html and "Attention needed" in html
    assert "ISO 27001" not in html.split('id="preview-h"')[1].split("</section>")[0]
    assert 'name="confirm" value="yes"' in html and "Publish this page" in html
    digest = preview.context["digest"]

    # Confirmed with the previewed digest: published, and the log says what became public.
    done = manager.post(toggle, {"enabled": "on", "confirm": "yes", "digest": digest})
    assert done.status_code == 302 and done["Location"] == reverse("commitments:list")
    public = client_for(None).get(reverse("trust_page")).content.decode()
    for entry in public_entries:
        assert entry.title in public and entry.label in public
    event = AuditEvent.objects.filter(action="trust_page.set").latest("pk")
    assert event.details["enabled"] is True and event.details["content_sha256"] == digest
    assert event.details["commitments"] == [e.key for e in public_entries]
    assert event.actor_id == users.manager.pk


def test_publishing_refuses_content_that_changed_since_the_preview(media_root, catalogs, users):
    commitments_load_builtin()
    manager = client_for(users.manager)
    digest = manager.get(reverse("commitments:trust_page_preview")).context["digest"]
    Commitment.objects.filter(key="iso27001").update(public=False)  # changed after the preview
    response = manager.post(
        reverse("commitments:trust_page_toggle"),
        {"enabled": "on", "confirm": "yes", "digest": digest},
    )
    assert response["Location"] == reverse("commitments:trust_page_preview")
    assert client_for(None).get(reverse("trust_page")).status_code == 404
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("changed since your preview" in m for m in messages), messages
