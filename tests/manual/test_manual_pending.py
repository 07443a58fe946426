"""Expired manual evidence turns its controls to "manual pending"; reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from pixaudit.controls.models import Framework
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.selectors_manual import manual_evidence_expiring
from pixaudit.evidence.services.manual import manual_requirement_remove, manual_requirement_set
from pixaudit.posture.selectors import ControlStatus, control_posture, framework_posture
from pixaudit.reviews.services import reminders_send
from tests.manual.test_manual_upload import PDF, upload

pytestmark = pytest.mark.django_db


def _status(address: str) -> str:
    return control_posture(control=control_get_by_address(address)).status


def _framework_status(address: str) -> str:
    key, ref = address.split(":")
    posture = framework_posture(framework=Framework.objects.get(key=key))
    return next(c.status for c in posture.controls if c.control.ref == ref)


def test_valid_upload_passes_expired_upload_is_manual_pending(media_root, catalogs, users):
    today = timezone.now().date()
    assert _status("soc2-2017:CC4.1") == ControlStatus.NO_EVIDENCE
    upload(PDF, "old.pdf", users.manager, effective_on=today - timedelta(days=400),
           valid_until=today - timedelta(days=1), recurrence="",
           control_addresses=["soc2-2017:CC4.1"])  # fmt: skip
    assert _status("soc2-2017:CC4.1") == ControlStatus.MANUAL_PENDING
    assert _framework_status("soc2-2017:CC4.1") == ControlStatus.MANUAL_PENDING
    upload(PDF + b"%new\n", "new.pdf", users.manager, effective_on=today,
           control_addresses=["soc2-2017:CC4.1"])  # fmt: skip
    assert _status("soc2-2017:CC4.1") == ControlStatus.PASSING
    assert _framework_status("soc2-2017:CC4.1") == ControlStatus.PASSING


def test_flagged_control_is_pending_until_evidenced(media_root, catalogs, users):
    control = control_get_by_address("iso27001-2022:A.5.20")
    manual_requirement_set(control=control, reason="DPAs with processors", user=users.manager)
    assert _status("iso27001-2022:A.5.20") == ControlStatus.MANUAL_PENDING
    assert _framework_status("iso27001-2022:A.5.20") == ControlStatus.MANUAL_PENDING
    upload(PDF, "dpa.pdf", users.manager, control_addresses=["iso27001-2022:A.5.20"])
    assert _status("iso27001-2022:A.5.20") == ControlStatus.PASSING
    manual_requirement_remove(control=control, user=users.manager)
    assert _status("iso27001-2022:A.5.20") == ControlStatus.PASSING


def _result(status):
    from collectors.base import Finding, Severity, Status
    from pixaudit.evidence.services.append import evidence_append

    now = timezone.now()
    finding = Finding("aws_iam_users.mfa_for_console", "arn:aws:iam::1:user/x", Status(status),
                      Severity.HIGH, "x", controls=("soc2-2017:CC6.1",))  # fmt: skip
    evidence_append(collector_key="aws_iam_users", document={"n": status}, collected_at=now,
                    expires_at=now + timedelta(days=1), findings=[finding])  # fmt: skip


def test_failing_checks_win_over_manual_pending(media_root, catalogs, users):
    today = timezone.now().date()
    upload(PDF, "old.pdf", users.manager, effective_on=today - timedelta(days=40),
           valid_until=today - timedelta(days=2), recurrence="",
           control_addresses=["soc2-2017:CC6.1"])  # fmt: skip
    _result("fail")
    assert _status("soc2-2017:CC6.1") == ControlStatus.FAILING
    _result("pass")
    assert _status("soc2-2017:CC6.1") == ControlStatus.MANUAL_PENDING
    assert _framework_status("soc2-2017:CC6.1") == ControlStatus.MANUAL_PENDING


def test_expiring_list_and_reminders(media_root, catalogs, users):
    today = timezone.now().date()
    soon = upload(
        PDF,
        "a.pdf",
        users.manager,
        owner=users.engineer,
        recurrence="",
        valid_until=today + timedelta(days=7),
        control_addresses=["soc2-2017:CC4.1"],
    )
    upload(PDF + b"%b\n", "b.pdf", users.manager, recurrence="yearly",
           control_addresses=["soc2-2017:CC9.2"])  # fmt: skip
    assert [i.pk for i in manual_evidence_expiring(today=today)] == [soon.pk]
    assert reminders_send(today=today)["manual"] == 1
    assert mail.outbox[0].to == [users.engineer.email] and "a.pdf" not in mail.outbox[0].subject
    assert reminders_send(today=today)["manual"] == 0
    assert reminders_send(today=today + timedelta(days=1))["manual"] == 0  # 6 days: not a step
    assert reminders_send(today=today + timedelta(days=4))["manual"] == 1  # 3 days left
