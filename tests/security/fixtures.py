"""Pytest fixtures shared by tests/accounts, tests/audits, tests/auditlog and tests/security.

Import with ``from tests.security.fixtures import *  # noqa: F403`` in a conftest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.audits.models import (
    AuditorInvitation,
    Engagement,
    EvidenceRequest,
    Sample,
    SampleResult,
)
from pixaudit.audits.sample_results import sample_result_record
from pixaudit.audits.sampling import sample_draw
from pixaudit.audits.services import evidence_request_create
from pixaudit.commitments.models import Commitment
from pixaudit.commitments.services import commitments_load_builtin
from pixaudit.controls.models import Control, Framework
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.models import Connection, EvidenceItem, ManualEvidence, ManualRequirement
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.services.manual import manual_evidence_upload, manual_requirement_set
from pixaudit.notifications.models import Endpoint
from pixaudit.notifications.services import endpoint_create
from pixaudit.reports.models import Report
from pixaudit.reviews.models import Campaign
from pixaudit.reviews.services import campaign_start
from pixaudit.tasks.models import Task, TaskAttachment
from pixaudit.tasks.services import task_attachment_add, task_create
from tests.security.helpers import (
    engagement_make,
    evidence_make,
    invitation_make,
    pdf_make,
    report_make,
    user_make,
)

__all__ = ["catalogs", "soc2", "world"]

IAM_ROWS = [
    {"account_id": f"AIDA{i:04d}", "display_name": f"user-{i:02d}", "email": None,
     "privileges": [], "is_privileged": i % 7 == 0, "mfa_enabled": i % 3 != 0,
     "last_activity_at": None, "status": "active", "source": "aws:123456789012"}
    for i in range(30)
]  # fmt: skip


@pytest.fixture
def catalogs(db) -> dict[str, Framework]:
    catalogs_load_builtin()
    return {f.key: f for f in Framework.objects.all()}


@pytest.fixture
def soc2(catalogs) -> Framework:
    return catalogs["soc2-2017"]


@dataclass
class World:
    soc2: Framework
    control: Control
    admin: User
    manager: User
    engineer: User
    auditor: User
    expired_auditor: User
    other_auditor: User
    engagement: Engagement
    other_engagement: Engagement
    evidence_in: EvidenceItem
    evidence_out: EvidenceItem
    identity_evidence: EvidenceItem
    pending_invitation: AuditorInvitation
    pending_token: str
    request: EvidenceRequest
    other_request: EvidenceRequest
    sample: Sample
    other_sample: Sample
    connection: Connection
    #: Succeeded engagement reports of A and B (small real PDFs, stored like rendered ones).
    report: Report
    other_report: Report
    #: An open access review on a second demo_inventory connection (collected once, offline).
    campaign: Campaign
    #: A manual evidence item (a small PDF) supporting CC6.1, and CC6.1's manual requirement.
    manual: ManualEvidence
    requirement: ManualRequirement
    #: One of the builtin policy commitments (all loaded; the trust page is not published).
    commitment: Commitment
    #: A task the manager assigned to the engineer, with one PDF attachment.
    task: Task
    task_attachment: TaskAttachment
    #: A signed webhook endpoint (never reached: tests roll back before delivery).
    endpoint: Endpoint
    #: A's auditor's result for item 1 of ``sample`` (drawn for CC6.1), with a text file.
    sample_result: SampleResult | None = None


@pytest.fixture
def world(soc2) -> World:
    """Two engagements over the last 30 days, one auditor on each, evidence in and out; an
    open access review, a manual evidence item and requirement, the builtin commitments."""
    today = timezone.now().date()
    now = timezone.now()
    a = engagement_make(framework=soc2, start=today - timedelta(days=30), end=today, name="A")
    b = engagement_make(framework=soc2, start=today - timedelta(days=30), end=today, name="B")
    auditor = user_make(Role.AUDITOR, "auditor-a")
    expired = user_make(Role.AUDITOR, "auditor-expired")
    other = user_make(Role.AUDITOR, "auditor-b")
    invitation_make(engagement=a, user=auditor)
    invitation_make(engagement=a, user=expired, expires_in=timedelta(seconds=-1))
    invitation_make(engagement=b, user=other)
    pending, token = invitation_make(
        engagement=a, user=None, accepted=False, email="new-auditor@example.com"
    )
    control = Control.objects.get(framework=soc2, ref="CC6.1")
    evidence_in = evidence_make(
        collector_key="demo_inventory", collected_at=now - timedelta(days=1)
    )
    evidence_out = evidence_make(
        collector_key="demo_inventory", collected_at=now - timedelta(days=60)
    )
    identity = evidence_make(
        collector_key="aws_iam_users", collected_at=now - timedelta(days=2), rows=IAM_ROWS
    )
    request_a = evidence_request_create(
        engagement=a, control=control, description="Access reviews Q1", actor=auditor
    )
    request_b = evidence_request_create(
        engagement=b, control=control, description="Access reviews Q1", actor=other
    )
    sample_a = sample_draw(
        engagement=a, actor=auditor, kind="days", size=5, seed=1, control=control
    )
    sample_result = sample_result_record(
        sample=sample_a, position=1, outcome="passed", note="Ticket approved", actor=auditor,
        upload=SimpleUploadedFile("ticket.txt", b"approved by the owner\n"),
        file_name="ticket.txt",
    )  # fmt: skip
    sample_b = sample_draw(engagement=b, actor=other, kind="days", size=5, seed=2)
    manager = user_make(Role.COMPLIANCE_MANAGER, "manager-1")
    admin = user_make(Role.ADMIN, "admin-1")
    engineer = user_make(Role.ENGINEER, "engineer-1")
    reviewed = connection_create(name="reviewed", collector_key="demo_inventory", params={})
    run = collection_run_execute(
        run_id=collection_run_create(connection=reviewed, trigger="manual").pk
    )
    assert run.status == "succeeded", run.error_message
    campaign = campaign_start(
        connection=reviewed, name="Q1 review", due_on=today + timedelta(days=14), user=manager,
        reviewers=[manager, engineer],
    )  # fmt: skip
    manual = manual_evidence_upload(
        upload=SimpleUploadedFile("policy.pdf", pdf_make()), file_name="policy.pdf",
        title="Access policy", effective_on=today - timedelta(days=3), recurrence="yearly",
        control_addresses=["soc2-2017:CC6.1"], user=manager,
    )  # fmt: skip
    requirement = manual_requirement_set(control=control, reason="Signed policy", user=manager)
    commitments_load_builtin()
    task = task_create(title="Rotate the deploy key", actor=manager, assignee=engineer)
    task_attachment = task_attachment_add(
        task=task, upload=SimpleUploadedFile("plan.pdf", pdf_make("plan")), file_name="plan.pdf",
        actor=manager,
    )  # fmt: skip
    endpoint, _secret = endpoint_create(
        name="SIEM", kind="webhook", url="https://siem.example.com/hook",
        events=["control.failing"], actor=manager,
    )  # fmt: skip
    return World(
        soc2=soc2, control=control, admin=admin, manager=manager,
        engineer=engineer, auditor=auditor,
        expired_auditor=expired, other_auditor=other, engagement=a, other_engagement=b,
        evidence_in=evidence_in, evidence_out=evidence_out, identity_evidence=identity,
        pending_invitation=pending, pending_token=token, request=request_a,
        other_request=request_b, sample=sample_a, other_sample=sample_b,
        connection=connection_create(name="demo", collector_key="demo_inventory", params={}),
        report=report_make(engagement=a, framework=soc2, created_by=manager),
        other_report=report_make(engagement=b, framework=soc2, created_by=manager),
        campaign=campaign, manual=manual, requirement=requirement,
        commitment=Commitment.objects.order_by("key").first(), sample_result=sample_result,
        task=task, task_attachment=task_attachment, endpoint=endpoint,
    )  # fmt: skip
