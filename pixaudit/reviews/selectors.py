"""Reads of the reviews app: the campaigns dashboard, a campaign's entries and progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from pixaudit.evidence.services.manual import add_months
from pixaudit.reviews.models import Campaign, FollowUp, ReviewEntry
from pixaudit.reviews.services.campaigns import RECURRENCE_MONTHS

__all__ = ["CampaignsOverview", "campaign_entries", "campaigns_overview", "campaign_followups"]


@dataclass
class NextDue:
    campaign: Campaign
    next_start: date
    overdue: bool


@dataclass
class CampaignsOverview:
    open: list[Campaign] = field(default_factory=list)
    overdue: list[Campaign] = field(default_factory=list)
    completed: list[Campaign] = field(default_factory=list)
    next_due: list[NextDue] = field(default_factory=list)
    #: Started from a page: snapshot being taken, or failed in the last 30 days.
    starting: list[Campaign] = field(default_factory=list)
    followups_failing: int = 0
    followups_pending: int = 0


def _annotated() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("connection", "started_by", "completed_by").annotate(
        total=Count("entries"),
        decided=Count("entries", filter=~Q(entries__decision="")),
        revokes=Count("entries", filter=Q(entries__decision="revoke")),
    )


def campaigns_overview(
    *, today: date | None = None, completed_limit: int = 20
) -> CampaignsOverview:
    today = today or timezone.now().date()
    out = CampaignsOverview()
    for campaign in _annotated().filter(status=Campaign.Status.OPEN).order_by("due_on", "pk"):
        (out.overdue if campaign.due_on < today else out.open).append(campaign)
    out.completed = list(
        _annotated()
        .filter(status=Campaign.Status.COMPLETED)
        .order_by("-completed_at")[:completed_limit]
    )
    out.starting = list(
        Campaign.objects.select_related("connection", "started_by")
        .filter(
            Q(status=Campaign.Status.SNAPSHOTTING)
            | Q(
                status=Campaign.Status.SNAPSHOT_FAILED,
                started_at__date__gte=today - timedelta(days=30),
            )
        )
        .order_by("-started_at", "-pk")
    )
    latest: dict[int, Campaign] = {}
    for campaign in (
        Campaign.objects.exclude(
            status__in=(Campaign.Status.CANCELLED, Campaign.Status.SNAPSHOT_FAILED)
        )
        .select_related("connection")
        .order_by("started_at", "pk")
    ):
        latest[campaign.connection_id] = campaign
    for campaign in latest.values():
        months = RECURRENCE_MONTHS.get(campaign.recurrence)
        if months and campaign.status == Campaign.Status.COMPLETED:
            start = add_months(campaign.started_at.date(), months)
            out.next_due.append(NextDue(campaign, start, start < today))
    out.next_due.sort(key=lambda n: n.next_start)
    counts = dict(FollowUp.objects.values_list("status").annotate(n=Count("pk")).order_by())
    out.followups_failing = counts.get(FollowUp.Status.NOT_APPLIED, 0)
    out.followups_pending = counts.get(FollowUp.Status.PENDING, 0)
    return out


def campaign_get(*, pk: int) -> Campaign:
    return _annotated().get(pk=pk)


def campaign_entries(*, campaign: Campaign, show: str = "") -> QuerySet[ReviewEntry]:
    qs = campaign.entries.select_related("reviewer", "decided_by").order_by("account_id")
    if show == "pending":
        qs = qs.filter(decision="")
    elif show == "changes":
        qs = qs.filter(change__in=["new", "changed"])
    elif show == "revoke":
        qs = qs.filter(decision__in=["revoke", "modify"])
    return qs


def campaign_followups(*, campaign: Campaign) -> QuerySet[FollowUp]:
    return (
        FollowUp.objects.filter(entry__campaign=campaign)
        .select_related("entry")
        .order_by("entry__account_id")
    )
