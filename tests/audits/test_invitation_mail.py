"""Engagement names are single lines; invitation e-mails go out from a job that reports.

The defect: an engagement name with CR/LF passed the form; inviting an auditor then failed
with a 500 after the invitation and its audit event were committed, and no e-mail left.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits.models import AuditorInvitation, Engagement, InvitationEmail
from pixaudit.audits.services import engagement_create
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the job enqueue) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _invite(client, engagement, email="eve@audit.example"):
    return client.post(reverse("audits:invitation_create", args=[engagement.pk]), {"email": email})


def _link(message) -> str:
    return next(line for line in message.body.splitlines() if "/invitation/" in line)


@pytest.mark.parametrize("name", ["SOC 2\r\nBcc: x@evil.example", "Q1\nreview", "Tab\there",
                                  "Line\u2028separator", "bidi\u202eevil"])  # fmt: skip
def test_engagement_names_with_control_characters_are_refused(world, name):
    client = client_for(world.manager)
    today = timezone.now().date()
    data = {"name": name, "frameworks": [world.soc2.pk],
            "window_start": (today - timedelta(days=30)).isoformat(),
            "window_end": today.isoformat()}  # fmt: skip
    response = client.post(reverse("audits:engagement_create"), data)
    assert response.status_code == 200
    assert "Use a single line of text" in response.content.decode()
    assert not Engagement.objects.filter(name=name).exists()
    with pytest.raises(ValidationError, match="single line"):
        engagement_create(name=name, frameworks=[world.soc2], window_start=today,
                          window_end=today, created_by=world.manager)  # fmt: skip


def test_an_older_name_with_a_line_break_still_gets_its_invitation_out(world, committed):
    """Rows stored before the validation keep working: the subject is put on one line."""
    Engagement.objects.filter(pk=world.engagement.pk).update(name="SOC 2\r\nType II")
    with committed():
        response = _invite(client_for(world.manager), world.engagement)
    assert response.status_code == 302
    invitation = AuditorInvitation.objects.get(email="eve@audit.example")
    assert invitation.email_status == InvitationEmail.SENT
    assert len(mail.outbox) == 1 and "SOC 2 Type II" in mail.outbox[0].subject
    assert client_for(None).get(_link(mail.outbox[0])).status_code == 200


def test_a_failed_invitation_email_is_reported_and_can_be_sent_again(world, committed):
    manager = client_for(world.manager)
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": _closed_port(), "EMAIL_USE_TLS": False,
            "EMAIL_TIMEOUT": 5}  # fmt: skip
    with override_settings(**smtp), committed():
        response = _invite(manager, world.engagement)
    assert response.status_code == 302  # no 500: the failure is data
    invitation = AuditorInvitation.objects.get(email="eve@audit.example")
    assert invitation.email_status == InvitationEmail.FAILED
    assert invitation.email_attempts == 1 and invitation.email_sent_at is None
    assert "refused" in invitation.email_error.lower()
    actions = list(AuditEvent.objects.filter(object_type="audits.auditorinvitation",
                                             object_id=str(invitation.pk))
                   .order_by("id").values_list("action", flat=True))  # fmt: skip
    assert actions == ["invitation.created", "invitation.email_failed"]
    page = manager.get(reverse("audits:engagement_detail", args=[world.engagement.pk]))
    html = page.content.decode()
    assert "E-mail failed" in html and "Send the invitation again" in html
    assert not mail.outbox

    resend = reverse("audits:invitation_resend", args=[world.engagement.pk, invitation.pk])
    with committed():
        assert manager.post(resend).status_code == 302
    invitation.refresh_from_db()
    assert invitation.email_status == InvitationEmail.SENT
    assert invitation.email_attempts == 2 and invitation.email_error == ""
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["eve@audit.example"]
    assert client_for(None).get(_link(mail.outbox[0])).status_code == 200
    assert {"invitation.email_queued", "invitation.email_sent"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


def test_sending_again_replaces_the_link(world, committed):
    manager = client_for(world.manager)
    with committed():
        _invite(manager, world.engagement)
    invitation = AuditorInvitation.objects.get(email="eve@audit.example")
    first = _link(mail.outbox[0])
    with committed():
        manager.post(reverse("audits:invitation_resend", args=[world.engagement.pk, invitation.pk]))
    assert len(mail.outbox) == 2
    assert client_for(None).get(first).status_code == 404
    assert client_for(None).get(_link(mail.outbox[1])).status_code == 200


def test_only_pending_invitations_are_mailed(world):
    """A revoked (or accepted, expired) invitation is never mailed, even if queued before."""
    from pixaudit.audits.services import invitation_email_send

    invitation = world.pending_invitation
    AuditorInvitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    result = invitation_email_send(invitation_id=invitation.pk)
    assert result.email_status == InvitationEmail.CANCELLED and not mail.outbox
    manager = client_for(world.manager)
    resend = reverse("audits:invitation_resend", args=[world.engagement.pk, invitation.pk])
    response = manager.post(resend, follow=True)
    assert "cannot be sent" in response.content.decode() and not mail.outbox
