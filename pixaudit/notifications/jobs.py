"""django-rq jobs of notifications: ids in, one service call."""

from __future__ import annotations

from pixaudit.notifications.digest import digest_send
from pixaudit.notifications.services import delivery_attempt, delivery_retry_when_due


def notification_deliver(delivery_id: int) -> str:
    """Attempt one delivery (a failure schedules the next attempt with backoff)."""
    delivery = delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery else "skipped"


def notification_retry(delivery_id: int) -> str:
    """A retry scheduled for its due time (embedded worker): attempt it if still waiting."""
    delivery = delivery_retry_when_due(delivery_id=delivery_id)
    return delivery.status if delivery else "skipped"


def notifications_digest_job() -> dict[str, int]:
    """Daily: the digest e-mails."""
    return digest_send()
