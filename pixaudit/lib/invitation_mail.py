"""Mail an invitation with a fresh link and record the outcome on it (users and auditors).

Both kinds of invitation (``accounts.UserInvitation``, ``audits.AuditorInvitation``) keep a
token hash, ``email_status`` (``queued``/``sent``/``failed``/``cancelled``),
``email_attempts``, ``email_sent_at`` and ``email_error``. :func:`invitation_mail_send` is
the one implementation of "send it": the new token's hash is stored only if the mail left
(the mail is sent inside the transaction that stores it), a failure is recorded (status,
attempts, a readable error) and never raised, and an invitation that is no longer pending is
marked not sent. The apps say what differs: which rows, what "pending" means, the accept
URL, the words of the mail and their audit events.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

__all__ = ["invitation_mail_send", "invitation_token_hash"]


def invitation_token_hash(token: str) -> str:
    """The stored form of an invitation link's token (SHA-256 hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_mail_send(
    *,
    invitations: QuerySet,
    invitation_id: int,
    pending: Callable[[Any], bool],
    accept_url: str,
    message: Callable[[Any, str], tuple[str, str]],
    audit: Callable[[Any, str], None],
) -> Any:
    """Mail invitation ``invitation_id`` (locked from ``invitations``) with a new link.

    ``pending(invitation)`` says whether it may still be mailed (otherwise it is marked
    ``cancelled`` and returned); ``accept_url`` names the URL taking the token;
    ``message(invitation, link)`` gives ``(subject, body)``; ``audit(invitation, error)``
    records the outcome (``error`` is ``""`` when the mail left), inside the transaction
    that stores it. Returns the invitation as stored.
    """
    error = ""
    with transaction.atomic():
        invitation = invitations.select_for_update().get(pk=invitation_id)
        if not pending(invitation):
            invitation.email_status = "cancelled"
            invitation.save(update_fields=["email_status"])
            return invitation
        token = secrets.token_urlsafe(32)
        invitation.token_hash = invitation_token_hash(token)
        link = settings.PIXAUDIT_BASE_URL.rstrip("/") + reverse(accept_url, args=[token])
        subject, body = message(invitation, link)
        try:
            send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL,
                      recipient_list=[invitation.email])  # fmt: skip
        except Exception as exc:  # any backend failure (SMTP, DNS, headers) is reported
            error = f"{type(exc).__name__}: {exc}"[:300]
        else:
            invitation.email_status = "sent"
            invitation.email_attempts += 1
            invitation.email_sent_at = timezone.now()
            invitation.email_error = ""
            invitation.save(update_fields=["token_hash", "email_status", "email_attempts",
                                           "email_sent_at", "email_error"])  # fmt: skip
            audit(invitation, "")
            return invitation
    with transaction.atomic():
        invitation = invitations.select_for_update().get(pk=invitation_id)
        invitation.email_status = "failed"
        invitation.email_attempts += 1
        invitation.email_error = error
        invitation.save(update_fields=["email_status", "email_attempts", "email_error"])
        audit(invitation, error)
    return invitation
