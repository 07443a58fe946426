"""Writes of the audits app: engagements, auditor invitations, evidence requests.

Every state change is recorded with ``audit_log_record``. Sampling is in ``sampling``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.accounts.services import user_create
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits.models import (
    AuditorInvitation,
    Engagement,
    EvidenceRequest,
    EvidenceRequestEvent,
    InvitationEmail,
    RequestStatus,
)
from pixaudit.audits.selectors import engagement_evidence_list
from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.models import EvidenceItem
from pixaudit.lib.invitation_mail import invitation_mail_send, invitation_token_hash
from pixaudit.lib.single_line import header_text
from pixaudit.reports.models import Report, ReportStatus
from pixaudit.reports.services import (
    report_log_details,
    report_request,
    report_scope_resolve,
)

__all__ = [
    "InvitationNotPending",
    "InvitationUnusable",
    "auditor_invitation_accept",
    "auditor_invitation_resend",
    "auditor_invitation_revoke",
    "auditor_invite",
    "demo_engagement_ensure",
    "engagement_create",
    "engagement_report_request",
    "engagement_update",
    "evidence_request_answer",
    "evidence_request_create",
    "evidence_request_review",
    "invitation_email_send",
    "invitation_get_by_token",
    "invitation_token_hash",
]


logger = logging.getLogger("pixaudit.audits")


class InvitationUnusable(Exception):
    """The invitation link cannot be used; ``reason`` is expired, revoked or accepted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Engagements -----------------------------------------------------------------------------


@transaction.atomic
def engagement_create(
    *,
    name: str,
    frameworks: Iterable[Framework],
    window_start: date,
    window_end: date,
    created_by: User | None,
    request: HttpRequest | None = None,
    include_privacy_register: bool = False,
) -> Engagement:
    frameworks = list(frameworks)
    if not frameworks:
        raise ValidationError({"frameworks": "Choose at least one framework."})
    if window_end < window_start:
        raise ValidationError({"window_end": "The window must end on or after its start."})
    engagement = Engagement(
        name=(name or "").strip(), window_start=window_start, window_end=window_end,
        created_by=created_by, include_privacy_register=bool(include_privacy_register),
    )  # fmt: skip
    engagement.full_clean()
    engagement.save()
    engagement.frameworks.set(frameworks)
    audit_log_record(actor=created_by, action="engagement.created", obj=engagement,
                     request=request, frameworks=[f.key for f in frameworks],
                     window_start=window_start, window_end=window_end,
                     include_privacy_register=engagement.include_privacy_register)  # fmt: skip
    return engagement


@transaction.atomic
def engagement_update(
    *,
    engagement: Engagement,
    actor: User,
    request: HttpRequest | None = None,
    **values: Any,
) -> Engagement:
    """Change an engagement's name, frameworks, window or register sharing; logs
    ``engagement.updated`` with the fields changed (old and new values).

    ``ValidationError`` (keyed by field) for bad input and when nothing changed.
    """
    frameworks = list(values.pop("frameworks", engagement.frameworks.all()))
    if not frameworks:
        raise ValidationError({"frameworks": "Choose at least one framework."})
    new = {
        "name": (values.get("name", engagement.name) or "").strip(),
        "window_start": values.get("window_start", engagement.window_start),
        "window_end": values.get("window_end", engagement.window_end),
        "include_privacy_register": bool(
            values.get("include_privacy_register", engagement.include_privacy_register)
        ),
    }
    if new["window_end"] < new["window_start"]:
        raise ValidationError({"window_end": "The window must end on or after its start."})
    changed = {
        k: {"from": getattr(engagement, k), "to": v}
        for k, v in new.items()
        if getattr(engagement, k) != v
    }
    old_keys = sorted(engagement.frameworks.values_list("key", flat=True))
    new_keys = sorted(f.key for f in frameworks)
    if old_keys != new_keys:
        changed["frameworks"] = {"from": old_keys, "to": new_keys}
    if not changed:
        raise ValidationError("Nothing changed.")
    for k, v in new.items():
        setattr(engagement, k, v)
    engagement.full_clean()
    engagement.save()
    engagement.frameworks.set(frameworks)
    audit_log_record(actor=actor, action="engagement.updated", obj=engagement, request=request,
                     changed=changed)  # fmt: skip
    return engagement


def engagement_report_request(
    *,
    engagement: Engagement,
    framework: Framework,
    actor: User | None,
    request: HttpRequest | None = None,
    aws_account: str = "",
    aws_ou: str = "",
) -> tuple[Report, bool]:
    """Queue the engagement's report for ``framework`` on the ``reports`` queue.

    The period is the engagement's window (``report_scope_resolve(engagement_id=...)``). If a
    report of this engagement and framework is already queued or running, it is returned
    instead of queuing another; the flag says whether a new one was queued.
    ``aws_account`` / ``aws_ou`` limit the report to one AWS account or OU (the same
    scope is deduplicated the same way).
    ``ReportScopeError`` (e.g. a framework the engagement does not cover, an unknown AWS
    account) propagates.
    """
    scope = report_scope_resolve(
        framework_key=framework.key, engagement_id=engagement.pk,
        aws_account=aws_account, aws_ou=aws_ou,
    )  # fmt: skip
    active = (
        Report.objects.filter(engagement_id=engagement.pk, framework=framework)
        .filter(aws_account=scope.aws_account, aws_ou=scope.aws_ou)
        .filter(status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING])
        .first()
    )
    if active is not None:
        return active, False
    report = report_request(scope=scope, created_by=actor)
    audit_log_record(actor=actor, action="report.requested", obj=report, request=request,
                     **report_log_details(report))  # fmt: skip
    report.refresh_from_db()
    return report, True


# --- Invitations -----------------------------------------------------------------------------


def invitation_get_by_token(*, token: str) -> AuditorInvitation:
    """The invitation for a link token (``AuditorInvitation.DoesNotExist`` if unknown)."""
    return AuditorInvitation.objects.select_related("engagement", "user").get(
        token_hash=invitation_token_hash(token)
    )


#: The job that sends an invitation e-mail (named, not imported: jobs import services).
INVITATION_EMAIL_JOB = "pixaudit.audits.jobs.invitation_email_send"
INVITATION_EMAIL_QUEUE = "default"


def _invitation_message(invitation: AuditorInvitation, link: str) -> tuple[str, str]:
    org = header_text(settings.PIXAUDIT_ORG_NAME)
    engagement = header_text(invitation.engagement.name)
    return (
        f"{org} invites you to the audit engagement {engagement}",
        f"{org} has invited you to review evidence for the audit engagement "
        f'"{engagement}" in pixaudit.\n\n'
        f"Accept the invitation and choose a password here:\n{link}\n\n"
        f"The link and your access end on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n",
    )


def _invitation_email_enqueue(invitation: AuditorInvitation) -> None:
    """Queue the e-mail job (ids only); it runs once the surrounding transaction commits."""
    django_rq.get_queue(INVITATION_EMAIL_QUEUE).enqueue(INVITATION_EMAIL_JOB, invitation.pk)


@transaction.atomic
def auditor_invite(
    *,
    engagement: Engagement,
    email: str,
    invited_by: User,
    expires_at=None,
    request: HttpRequest | None = None,
) -> AuditorInvitation:
    """Invite an auditor by e-mail; the e-mail (with the link) is sent by a job.

    Access granted by the invitation ends at ``expires_at`` (default: in
    ``PIXAUDIT_INVITATION_DAYS`` days). Internal users cannot be invited as auditors. The
    stored token hash matches no link until the job mails one (:func:`invitation_email_send`).
    """
    email = email.strip().lower()
    existing = User.objects.filter(email__iexact=email).exclude(role=Role.AUDITOR).first()
    if (
        existing is not None
        or User.objects.filter(username__iexact=email).exclude(role=Role.AUDITOR).exists()
    ):
        raise ValidationError(
            {"email": "This address belongs to an internal user; auditors need their own."}
        )
    if expires_at is None:
        expires_at = timezone.now() + timedelta(days=settings.PIXAUDIT_INVITATION_DAYS)
    if expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    invitation = AuditorInvitation.objects.create(
        engagement=engagement,
        email=email,
        # A token nobody ever sees: the link is made (and mailed) by the job.
        token_hash=invitation_token_hash(secrets.token_urlsafe(32)),
        expires_at=expires_at,
        invited_by=invited_by,
        email_status=InvitationEmail.QUEUED,
    )
    audit_log_record(actor=invited_by, action="invitation.created", obj=invitation,
                     request=request, engagement_id=engagement.pk, email=email,
                     expires_at=expires_at)  # fmt: skip
    _invitation_email_enqueue(invitation)
    return invitation


class InvitationNotPending(Exception):
    """Only a pending invitation (not accepted, revoked or expired) is mailed."""


@transaction.atomic
def auditor_invitation_resend(
    *, invitation: AuditorInvitation, actor: User, request: HttpRequest | None = None
) -> AuditorInvitation:
    """Queue the invitation e-mail again (a failed one, or a lost one): a new link is made
    and the previous link stops working."""
    invitation = AuditorInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != "pending":
        raise InvitationNotPending(
            f"The invitation is {invitation.status}: its e-mail cannot be sent any more."
        )
    invitation.email_status = InvitationEmail.QUEUED
    invitation.save(update_fields=["email_status"])
    audit_log_record(actor=actor, action="invitation.email_queued", obj=invitation,
                     request=request, engagement_id=invitation.engagement_id,
                     previous_attempts=invitation.email_attempts)  # fmt: skip
    _invitation_email_enqueue(invitation)
    return invitation


def _invitation_audit(invitation: AuditorInvitation, error: str) -> None:
    if not error:
        audit_log_record(action="invitation.email_sent", obj=invitation,
                         engagement_id=invitation.engagement_id, email=invitation.email,
                         attempt=invitation.email_attempts)  # fmt: skip
        return
    audit_log_record(action="invitation.email_failed", obj=invitation,
                     engagement_id=invitation.engagement_id, email=invitation.email,
                     attempt=invitation.email_attempts, error=error)  # fmt: skip
    logger.warning("invitation %s e-mail failed: %s", invitation.pk, error)


def invitation_email_send(*, invitation_id: int) -> AuditorInvitation:
    """Mail a pending invitation with a fresh link, recording the outcome on the invitation.

    The new token's hash is stored only if the e-mail left: mail is sent inside the
    transaction that stores it, so a failed send leaves the previous state untouched apart
    from the failure record (status, error, attempts; audited ``invitation.email_failed``).
    Never raises for a mail failure: the engagement page shows it and offers to send again.
    (``pixaudit.lib.invitation_mail`` sends it, as for user invitations.)
    """
    return invitation_mail_send(
        invitations=AuditorInvitation.objects.select_related("engagement"),
        invitation_id=invitation_id,
        pending=lambda invitation: invitation.status == "pending",
        accept_url="audits:invitation_accept",
        message=_invitation_message,
        audit=_invitation_audit,
    )


def _invitation_check(invitation: AuditorInvitation) -> None:
    if invitation.revoked:
        raise InvitationUnusable("revoked")
    if invitation.is_expired:
        raise InvitationUnusable("expired")
    if invitation.accepted_at is not None:
        raise InvitationUnusable("accepted")


@transaction.atomic
def auditor_invitation_accept(
    *, invitation: AuditorInvitation, password: str | None, request: HttpRequest | None = None
) -> User:
    """Accept: link (or create, with ``password``) the auditor account for the e-mail."""
    invitation = AuditorInvitation.objects.select_for_update().get(pk=invitation.pk)
    _invitation_check(invitation)
    user = User.objects.filter(email__iexact=invitation.email, role=Role.AUDITOR).first()
    if user is None:
        if User.objects.filter(username__iexact=invitation.email).exists():
            raise InvitationUnusable("conflict")
        if not password:
            raise ValidationError({"password1": "Choose a password."})
        user = user_create(username=invitation.email, email=invitation.email,
                           role=Role.AUDITOR, password=password)  # fmt: skip
    invitation.user = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["user", "accepted_at"])
    audit_log_record(actor=user, action="invitation.accepted", obj=invitation, request=request,
                     engagement_id=invitation.engagement_id)  # fmt: skip
    return user


def auditor_has_account(*, invitation: AuditorInvitation) -> bool:
    return User.objects.filter(email__iexact=invitation.email, role=Role.AUDITOR).exists()


@transaction.atomic
def auditor_invitation_revoke(
    *, invitation: AuditorInvitation, actor: User, request: HttpRequest | None = None
) -> AuditorInvitation:
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_log_record(actor=actor, action="invitation.revoked", obj=invitation,
                         request=request, engagement_id=invitation.engagement_id)  # fmt: skip
    return invitation


# --- Evidence requests -----------------------------------------------------------------------


@transaction.atomic
def evidence_request_create(
    *,
    engagement: Engagement,
    control: Control,
    description: str,
    actor: User,
    request: HttpRequest | None = None,
) -> EvidenceRequest:
    if not engagement.frameworks.filter(pk=control.framework_id).exists():
        raise ValidationError({"control": "The control is not in this engagement's frameworks."})
    if not description.strip():
        raise ValidationError({"description": "Describe the evidence you need."})
    evidence_request = EvidenceRequest.objects.create(
        engagement=engagement, control=control, description=description.strip(),
        requested_by=actor,
    )  # fmt: skip
    EvidenceRequestEvent.objects.create(
        request=evidence_request, status=RequestStatus.OPEN, note=description.strip(), actor=actor
    )
    audit_log_record(actor=actor, action="evidence_request.created", obj=evidence_request,
                     request=request, engagement_id=engagement.pk,
                     control=f"{control.framework.key}:{control.ref}")  # fmt: skip
    from pixaudit.tasks.automation import request_task_open

    request_task_open(evidence_request=evidence_request)
    return evidence_request


def _transition(
    *, evidence_request: EvidenceRequest, status: str, actor: User, note: str,
    items: list[EvidenceItem], request: HttpRequest | None,
) -> EvidenceRequest:  # fmt: skip
    previous = evidence_request.status
    evidence_request.status = status
    evidence_request.save(update_fields=["status", "updated_at"])
    event = EvidenceRequestEvent.objects.create(
        request=evidence_request, status=status, note=note, actor=actor
    )
    if items:
        event.evidence_items.set(items)
        evidence_request.evidence_items.add(*items)
    audit_log_record(actor=actor, action=f"evidence_request.{status}", obj=evidence_request,
                     request=request, engagement_id=evidence_request.engagement_id,
                     previous=previous, evidence_ids=[i.pk for i in items])  # fmt: skip
    return evidence_request


@transaction.atomic
def evidence_request_answer(
    *,
    evidence_request: EvidenceRequest,
    actor: User,
    note: str,
    evidence_items: Iterable[EvidenceItem] = (),
    request: HttpRequest | None = None,
) -> EvidenceRequest:
    """The team answers an open (or needs-more) request with a note and in-window evidence."""
    evidence_request = EvidenceRequest.objects.select_for_update().get(pk=evidence_request.pk)
    if evidence_request.status not in (RequestStatus.OPEN, RequestStatus.NEEDS_MORE):
        raise ValidationError("Only open requests, or requests needing more, can be answered.")
    items = list(evidence_items)
    in_window = set(
        engagement_evidence_list(engagement=evidence_request.engagement)
        .filter(pk__in=[i.pk for i in items])
        .values_list("pk", flat=True)
    )
    if any(i.pk not in in_window for i in items):
        raise ValidationError({"evidence_items": "Evidence must be collected inside the window."})
    if not note.strip() and not items:
        raise ValidationError({"note": "Write a note or link evidence."})
    answered = _transition(
        evidence_request=evidence_request, status=RequestStatus.ANSWERED, actor=actor,
        note=note.strip(), items=items, request=request,
    )  # fmt: skip
    from pixaudit.tasks.automation import request_task_answered

    request_task_answered(evidence_request=answered, note=note.strip())
    return answered


@transaction.atomic
def evidence_request_review(
    *,
    evidence_request: EvidenceRequest,
    actor: User,
    accept: bool,
    note: str = "",
    request: HttpRequest | None = None,
) -> EvidenceRequest:
    """The auditor accepts an answered request or asks for more."""
    evidence_request = EvidenceRequest.objects.select_for_update().get(pk=evidence_request.pk)
    if evidence_request.status != RequestStatus.ANSWERED:
        raise ValidationError("Only answered requests can be accepted or sent back.")
    if not accept and not note.strip():
        raise ValidationError({"note": "Say what more you need."})
    status = RequestStatus.ACCEPTED if accept else RequestStatus.NEEDS_MORE
    reviewed = _transition(evidence_request=evidence_request, status=status, actor=actor,
                           note=note.strip(), items=[], request=request)  # fmt: skip
    if not accept:
        from pixaudit.tasks.automation import request_task_more

        request_task_more(evidence_request=reviewed, note=note.strip())
    return reviewed


# --- Demo ------------------------------------------------------------------------------------

DEMO_ENGAGEMENT_NAME = "Demo SOC 2 Type II"


@transaction.atomic
def demo_engagement_ensure(*, auditor: User) -> Engagement:
    """The demo engagement (last 90 days, SOC 2) with ``auditor`` holding active access."""
    today = timezone.now().date()
    framework = Framework.objects.get(key="soc2-2017")
    engagement = Engagement.objects.filter(name=DEMO_ENGAGEMENT_NAME).first()
    if engagement is None:
        engagement = engagement_create(name=DEMO_ENGAGEMENT_NAME, frameworks=[framework],
                                       window_start=today - timedelta(days=89),
                                       window_end=today, created_by=None)  # fmt: skip
    else:
        Engagement.objects.filter(pk=engagement.pk).update(
            window_start=today - timedelta(days=89), window_end=today
        )
        engagement.refresh_from_db()
        engagement.frameworks.add(framework)
    if not engagement.invitations.filter(
        user=auditor, accepted_at__isnull=False, revoked_at__isnull=True,
        expires_at__gt=timezone.now() + timedelta(days=1),
    ).exists():  # fmt: skip
        now = timezone.now()
        invitation = AuditorInvitation.objects.create(
            engagement=engagement, email=auditor.email or f"{auditor.username}@example.com",
            user=auditor, token_hash=invitation_token_hash(secrets.token_urlsafe(32)),
            expires_at=now + timedelta(days=settings.PIXAUDIT_INVITATION_DAYS), accepted_at=now,
        )  # fmt: skip
        audit_log_record(action="invitation.accepted", obj=invitation, demo=True,
                         engagement_id=engagement.pk)  # fmt: skip
    return engagement
