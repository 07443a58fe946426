"""django-rq jobs of the accounts app (queue ``default``): ids in, one service call."""

from __future__ import annotations

from pixaudit.accounts.services import user_invitation_email_send as send


def user_invitation_email_send(invitation_id: int) -> str:
    """Mail one user invitation; the outcome (sent, failed, cancelled) is stored on it."""
    return send(invitation_id=invitation_id).email_status
