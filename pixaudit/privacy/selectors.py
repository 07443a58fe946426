"""Reads of the data-subject request register: the filtered list and the monthly metrics."""

from __future__ import annotations

from datetime import date
from statistics import median

from django.db.models import Q, QuerySet
from django.utils import timezone

from pixaudit.privacy.models import DataSubjectRequest

__all__ = ["STATES", "monthly_metrics", "requests_filtered"]

#: The list's state filter.
STATES = ("open", "overdue", "completed")


def requests_filtered(
    *, state: str = "", kind: str = "", today: date | None = None
) -> QuerySet[DataSubjectRequest]:
    """Requests by state (open: not completed, overdue included; overdue: open past due;
    completed) and kind; unknown values do not filter."""
    today = today or timezone.localdate()
    queryset = DataSubjectRequest.objects.select_related("completed_by")
    if state == "open":
        queryset = queryset.filter(completed_on__isnull=True)
    elif state == "overdue":
        queryset = queryset.filter(completed_on__isnull=True, due_on__lt=today)
    elif state == "completed":
        queryset = queryset.filter(completed_on__isnull=False)
    if kind in DataSubjectRequest.Kind.values:
        queryset = queryset.filter(kind=kind)
    return queryset


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def monthly_metrics(*, today: date | None = None, months: int = 12) -> list[dict[str, object]]:
    """The last ``months`` months, newest first: requests received, requests completed,
    the median days to complete (of those completed that month; None without any) and
    the deadlines missed (requests due that month that were completed late or are still
    open past due)."""
    today = today or timezone.localdate()
    keys = []
    year, month = today.year, today.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    start = date(int(keys[-1][:4]), int(keys[-1][5:]), 1)
    rows = {key: {"month": key, "received": 0, "completed": 0, "days": [], "overdue": 0}
            for key in keys}  # fmt: skip
    requests = DataSubjectRequest.objects.filter(
        Q(received_on__gte=start) | Q(completed_on__gte=start) | Q(due_on__gte=start)
    ).only("received_on", "due_on", "completed_on")
    for r in requests:
        if (key := _month(r.received_on)) in rows:
            rows[key]["received"] += 1
        if r.completed_on and (key := _month(r.completed_on)) in rows:
            rows[key]["completed"] += 1
            rows[key]["days"].append((r.completed_on - r.received_on).days)
        missed = (r.completed_on and r.completed_on > r.due_on) or (
            not r.completed_on and r.due_on < today
        )
        if missed and (key := _month(r.due_on)) in rows:
            rows[key]["overdue"] += 1
    out = []
    for key in keys:
        row = rows[key]
        days = row.pop("days")
        row["median_days"] = median(days) if days else None
        out.append(row)
    return out
