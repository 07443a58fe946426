"""Invitation e-mails are jobs on the ``default`` queue: a real worker sends them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.audits.models import AuditorInvitation, InvitationEmail
from pixaudit.audits.services import auditor_invite
from pixaudit.controls.models import Framework
from pixaudit.controls.services import catalogs_load_builtin
from tests.jobs.conftest import wait_for
from tests.security.helpers import engagement_make, user_make

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def test_a_real_worker_sends_the_invitation_queued_by_the_web_process(
    real_services, start_worker, monkeypatch, settings
):
    monkeypatch.setitem(settings.RQ_QUEUES["default"], "ASYNC", True)
    catalogs_load_builtin()
    today = timezone.now().date()
    engagement = engagement_make(framework=Framework.objects.get(key="soc2-2017"),
                                 start=today - timedelta(days=30), end=today)  # fmt: skip
    manager = user_make(Role.COMPLIANCE_MANAGER)
    invitation = auditor_invite(engagement=engagement, email="eve@audit.example",
                                invited_by=manager)  # fmt: skip
    assert invitation.email_status == InvitationEmail.QUEUED  # in Redis, not sent yet
    queued_hash = invitation.token_hash
    start_worker("default", "--burst")

    def sent():
        row = AuditorInvitation.objects.get(pk=invitation.pk)
        return row if row.email_status != InvitationEmail.QUEUED else None

    row = wait_for(sent, timeout=60, what="the worker to send the invitation e-mail")
    assert row.email_status == InvitationEmail.SENT and row.email_attempts == 1
    assert row.token_hash != queued_hash  # the link was made (and mailed) by the job
