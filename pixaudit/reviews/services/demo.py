"""Demo hook: an open access review on the demo's identity population."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.reviews.models import Campaign
from pixaudit.reviews.services.campaigns import campaign_start
from pixaudit.reviews.services.population import DEMO_INVENTORY, reviewable_connections

__all__ = ["demo_campaign_ensure"]


def demo_campaign_ensure() -> Campaign | None:
    """Start a quarterly campaign on the demo AWS IAM users population if it was collected,
    else on the offline demo inventory's accounts. Idempotent: an open campaign is reused.
    Returns None when no identity population has evidence yet."""
    sources = reviewable_connections()
    preferred = [s for s in sources if s[0].collector_key == "aws_iam_users"]
    preferred += [s for s in sources if s[0].collector_key == DEMO_INVENTORY]
    if not preferred:
        return None
    connection, _ = preferred[0]
    existing = Campaign.objects.filter(connection=connection, status=Campaign.Status.OPEN).first()
    if existing is not None:
        return existing
    manager = User.objects.filter(role=Role.COMPLIANCE_MANAGER, is_active=True).order_by("pk")
    engineer = User.objects.filter(role=Role.ENGINEER, is_active=True).order_by("pk")
    today = timezone.now().date()
    return campaign_start(
        connection=connection,
        name=f"{connection.name} access review {today:%Y} Q{(today.month - 1) // 3 + 1}",
        due_on=today + timedelta(days=14),
        user=manager.first(),
        reviewers=[u for u in (manager.first(), engineer.first()) if u is not None],
        recurrence="quarterly",
    )
