"""Engagements, invitations, window scoping, IDOR, evidence requests and sampling."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits import selectors
from pixaudit.audits.models import Engagement, RequestStatus, Sample
from pixaudit.audits.sampling import sample_draw, sample_verify
from pixaudit.audits.services import (
    auditor_invite,
    demo_engagement_ensure,
    evidence_request_answer,
    evidence_request_review,
)
from pixaudit.lib.append_only import AppendOnlyHistoryError
from tests.security.helpers import PASSWORD, client_for, user_make

pytestmark = pytest.mark.django_db


def test_manager_creates_engagement_and_invites_auditor(soc2, django_capture_on_commit_callbacks):
    manager = user_make(Role.COMPLIANCE_MANAGER)
    client = client_for(manager)
    today = timezone.now().date()
    response = client.post(reverse("audits:engagement_create"), {
        "name": "SOC 2 Type II", "frameworks": [soc2.pk],
        "window_start": (today - timedelta(days=90)).isoformat(), "window_end": today.isoformat(),
    })  # fmt: skip
    engagement = Engagement.objects.get(name="SOC 2 Type II")
    assert response["Location"] == reverse("audits:engagement_detail", args=[engagement.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("audits:invitation_create", args=[engagement.pk]),
            {"email": "Eve@Audit.example"},
        )
    assert response.status_code == 302
    invitation = engagement.invitations.get()
    assert invitation.email == "eve@audit.example" and len(invitation.token_hash) == 64
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invitation/" in line)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in invitation.token_hash  # only the hash is stored

    anonymous = client_for(None)
    page = anonymous.get(link)
    assert page.status_code == 200
    weak = anonymous.post(link, {"password1": "short", "password2": "short"})
    assert weak.status_code == 200 and 'aria-invalid="true"' in weak.content.decode()
    response = anonymous.post(link, {"password1": PASSWORD, "password2": PASSWORD})
    assert response["Location"] == reverse("audits:engagement_detail", args=[engagement.pk])
    auditor = User.objects.get(username="eve@audit.example")
    assert auditor.role == Role.AUDITOR
    assert anonymous.get(response["Location"]).status_code == 200
    # The link is single-use.
    again = client_for(None).get(link)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"engagement.created", "invitation.created", "invitation.accepted"} <= actions


def test_internal_user_email_cannot_be_invited(world):
    with pytest.raises(ValidationError):
        auditor_invite(engagement=world.engagement, email=world.engineer.email,
                       invited_by=world.manager)  # fmt: skip


def test_expired_and_revoked_invitation_links_give_a_clear_error(world):
    client = client_for(None)
    url = reverse("audits:invitation_accept", args=[world.pending_token])
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.get(url)
        assert response.status_code == 410 and "has expired" in response.content.decode()
    manager = client_for(world.manager)
    manager.post(reverse("audits:invitation_revoke",
                         args=[world.engagement.pk, world.pending_invitation.pk]))  # fmt: skip
    response = client.get(url)
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert client.get(reverse("audits:invitation_accept", args=["nope"])).status_code == 404


def test_access_ends_at_expiry_even_within_a_session(world):
    client = client_for(world.auditor)
    url = reverse("audits:engagement_detail", args=[world.engagement.pk])
    assert client.get(url).status_code == 200
    world.engagement.invitations.filter(user=world.auditor).update(
        expires_at=timezone.now() + timedelta(minutes=1)
    )
    assert client.get(url).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert client.get(url).status_code == 404
        listing = client.get(reverse("audits:engagement_list"))
        assert "no active engagement" in listing.content.decode()


def test_revocation_ends_access_at_once(world):
    client = client_for(world.auditor)
    url = reverse("audits:engagement_detail", args=[world.engagement.pk])
    invitation = world.engagement.invitations.get(user=world.auditor)
    client_for(world.manager).post(
        reverse("audits:invitation_revoke", args=[world.engagement.pk, invitation.pk])
    )
    assert client.get(url).status_code == 404


def _page(response) -> bytes:
    """The page without its CSRF token, which is masked afresh on every response (the
    branded 404 page carries the sign-out form): two answers must not differ otherwise."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", response.content)


def test_auditor_sees_only_evidence_inside_the_window(world):
    visible = set(selectors.engagement_evidence_list(engagement=world.engagement))
    assert world.evidence_in in visible and world.evidence_out not in visible
    client = client_for(world.auditor)
    page = client.get(reverse("audits:evidence_list", args=[world.engagement.pk]))
    shown = {item.pk for item in page.context["page"].object_list}
    assert world.evidence_in.pk in shown and world.evidence_out.pk not in shown
    assert world.evidence_in.sha256 in page.content.decode()
    for name in ("audits:evidence_detail", "audits:evidence_download"):
        out = client.get(reverse(name, args=[world.engagement.pk, world.evidence_out.pk]))
        missing = client.get(reverse(name, args=[world.engagement.pk, 999999]))
        assert out.status_code == missing.status_code == 404
        assert _page(out) == _page(missing)


def test_download_is_logged_and_byte_exact(world):
    client = client_for(world.auditor)
    url = reverse("audits:evidence_download", args=[world.engagement.pk, world.evidence_in.pk])
    response = client.get(url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    import hashlib

    assert hashlib.sha256(body).hexdigest() == world.evidence_in.sha256
    event = AuditEvent.objects.get(action="evidence.downloaded")
    assert event.actor_id == world.auditor.pk
    assert event.object_id == str(world.evidence_in.pk)
    assert event.details["engagement_id"] == world.engagement.pk


IDOR_URLS = [
    ("audits:engagement_detail", lambda w: [w.other_engagement.pk]),
    ("audits:evidence_list", lambda w: [w.other_engagement.pk]),
    ("audits:request_list", lambda w: [w.other_engagement.pk]),
    ("audits:request_detail", lambda w: [w.engagement.pk, w.other_request.pk]),
    ("audits:request_detail", lambda w: [w.other_engagement.pk, w.other_request.pk]),
    ("audits:sample_detail", lambda w: [w.engagement.pk, w.other_sample.pk]),
    ("audits:sample_list", lambda w: [w.other_engagement.pk]),
    ("audits:evidence_detail", lambda w: [w.other_engagement.pk, w.evidence_in.pk]),
]


@pytest.mark.parametrize(("name", "args"), IDOR_URLS)
def test_other_engagements_ids_answer_like_missing_ones(world, name, args):
    client = client_for(world.auditor)
    real = args(world)
    missing = [999999 if a == real[-1] else a for a in real]
    if name in ("audits:engagement_detail", "audits:evidence_list", "audits:request_list",
                "audits:sample_list"):  # fmt: skip
        missing = [999999]
    response = client.get(reverse(name, args=real))
    absent = client.get(reverse(name, args=missing))
    assert response.status_code == absent.status_code == 404
    assert _page(response) == _page(absent)


def test_idor_on_posts_is_refused_too(world):
    client = client_for(world.auditor)
    url = reverse("audits:request_review", args=[world.engagement.pk, world.other_request.pk])
    assert client.post(url, {"decision": "accept"}).status_code == 404
    manager = client_for(world.manager)
    url = reverse("audits:request_answer", args=[world.engagement.pk, world.other_request.pk])
    assert manager.post(url, {"note": "x"}).status_code == 404


def test_evidence_request_lifecycle_keeps_history(world):
    auditor, manager = client_for(world.auditor), client_for(world.manager)
    response = auditor.post(reverse("audits:request_create", args=[world.engagement.pk]),
                            {"control": world.control.pk, "description": "Show MFA"})  # fmt: skip
    evidence_request = world.engagement.requests.get(description="Show MFA")
    detail = reverse("audits:request_detail", args=[world.engagement.pk, evidence_request.pk])
    assert response["Location"] == detail
    answer = reverse("audits:request_answer", args=[world.engagement.pk, evidence_request.pk])
    out_of_window = manager.post(answer, {"note": "x", "evidence_items": [world.evidence_out.pk]})
    assert out_of_window.status_code == 200  # not a valid choice
    manager.post(answer, {"note": "Attached.", "evidence_items": [world.evidence_in.pk]})
    review = reverse("audits:request_review", args=[world.engagement.pk, evidence_request.pk])
    assert auditor.post(review, {"decision": "needs_more", "note": ""}).status_code == 200
    auditor.post(review, {"decision": "needs_more", "note": "Need Q2 as well."})
    manager.post(answer, {"note": "Q2 attached.", "evidence_items": [world.evidence_in.pk]})
    auditor.post(review, {"decision": "accept"})
    evidence_request.refresh_from_db()
    assert evidence_request.status == RequestStatus.ACCEPTED
    assert [e.status for e in evidence_request.events.all()] == [
        "open", "answered", "needs_more", "answered", "accepted"
    ]  # fmt: skip
    assert list(evidence_request.evidence_items.all()) == [world.evidence_in]
    page = auditor.get(detail).content.decode()
    assert "Need Q2 as well." in page and world.evidence_in.sha256 in page


def test_request_transitions_are_enforced(world):
    with pytest.raises(ValidationError):
        evidence_request_review(evidence_request=world.request, actor=world.auditor, accept=True)
    evidence_request_answer(evidence_request=world.request, actor=world.manager, note="ok")
    with pytest.raises(ValidationError):
        evidence_request_answer(evidence_request=world.request, actor=world.manager, note="x")


def test_identity_sample_is_reproducible(world):
    sample = sample_draw(engagement=world.engagement, actor=world.auditor, kind="identity",
                         collector_key="aws_iam_users", size=25, seed=12345)  # fmt: skip
    assert (sample.size, sample.population_size, sample.seed) == (25, 30, 12345)
    assert sample.evidence == world.identity_evidence
    again = sample_draw(engagement=world.engagement, actor=world.auditor, kind="identity",
                        collector_key="aws_iam_users", size=25, seed=12345)  # fmt: skip
    assert again.items == sample.items and again.population_hash == sample.population_hash
    assert len({i["account_id"] for i in sample.items}) == 25
    assert sample_verify(sample=sample)
    with pytest.raises(AppendOnlyHistoryError):
        sample.save()


def test_day_sample_via_the_page(world):
    client = client_for(world.auditor)
    url = reverse("audits:sample_list", args=[world.engagement.pk])
    response = client.post(url, {"kind": "days", "size": 10, "seed": 7})
    sample = Sample.objects.get(engagement=world.engagement, seed=7)
    assert response["Location"] == reverse(
        "audits:sample_detail", args=[world.engagement.pk, sample.pk]
    )
    assert sample.population_size == 31 and sample.size == 10
    window = {world.engagement.window_start + timedelta(days=i) for i in range(31)}
    assert {timezone.datetime.fromisoformat(i["day"]).date() for i in sample.items} <= window
    assert sample_verify(sample=sample)
    missing = client.post(url, {"kind": "identity", "size": 5})
    assert missing.status_code == 200 and 'aria-invalid="true"' in missing.content.decode()
    assert AuditEvent.objects.filter(action="sample.drawn", object_id=str(sample.pk)).exists()


def test_identity_population_outside_window_is_not_offered(world):
    later = Engagement.objects.create(
        name="Old", window_start=timezone.now().date() - timedelta(days=400),
        window_end=timezone.now().date() - timedelta(days=300),
    )  # fmt: skip
    later.frameworks.add(world.soc2)
    assert selectors.identity_populations(engagement=later) == []
    with pytest.raises(ValidationError):
        sample_draw(engagement=later, actor=world.manager, kind="identity",
                    collector_key="aws_iam_users", size=5)  # fmt: skip


def test_demo_engagement_gives_the_demo_auditor_access(soc2):
    auditor = user_make(Role.AUDITOR, "demo-auditor")
    engagement = demo_engagement_ensure(auditor=auditor)
    assert demo_engagement_ensure(auditor=auditor) == engagement  # idempotent
    assert engagement.invitations.count() == 1
    assert (engagement.window_end - engagement.window_start).days == 89
    assert list(engagement.frameworks.values_list("key", flat=True)) == ["soc2-2017"]
    client = client_for(auditor)
    assert client.get(reverse("audits:engagement_detail", args=[engagement.pk])).status_code == 200


def test_engagement_detail_offers_no_fake_downloads(world):
    """Every download offered answers (see test_engagement_reports for the no-report page)."""
    client = client_for(world.auditor)
    response = client.get(reverse("audits:engagement_detail", args=[world.engagement.pk]))
    downloads = response.context["downloads"]
    assert [d.label for d in downloads] == [
        f"PDF report · {world.soc2.name}",
        f"Build the evidence pack (ZIP) · {world.soc2.name}",
    ]
    for download in downloads:
        if download.post:  # a pack is built by a job: the POST lands on its build page
            assert client.post(download.url).status_code == 302, download.url
        else:
            assert client.get(download.url).status_code == 200, download.url
    assert json.dumps(response.context["engagement"].name)
