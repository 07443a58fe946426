"""django-rq jobs of the audits app (queue ``default``): ids in, one service call."""

from __future__ import annotations

from pixaudit.audits.services import invitation_email_send as send


def invitation_email_send(invitation_id: int) -> str:
    """Mail one invitation; the outcome (sent, failed, cancelled) is stored on its row."""
    return send(invitation_id=invitation_id).email_status
