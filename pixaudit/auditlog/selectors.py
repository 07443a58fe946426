"""Reads of the audit log."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from pixaudit.auditlog.models import AuditEvent

__all__ = ["AuditEventFilter", "audit_event_actions", "audit_event_list"]


@dataclass(frozen=True)
class AuditEventFilter:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def audit_event_list(*, filters: AuditEventFilter | None = None) -> QuerySet[AuditEvent]:
    """Events newest first; ``since``/``until`` are inclusive calendar days."""
    qs = AuditEvent.objects.all()
    f = filters or AuditEventFilter()
    if f.action:
        qs = qs.filter(Q(action=f.action) | Q(action__startswith=f"{f.action}."))
    if f.actor:
        qs = qs.filter(actor_repr__iexact=f.actor)
    if f.object_type:
        qs = qs.filter(object_type=f.object_type)
    if f.since:
        qs = qs.filter(at__gte=_day_start(f.since))
    if f.until:
        qs = qs.filter(at__lt=_day_start(f.until + timedelta(days=1)))
    if f.q:
        match = Q(object_repr__icontains=f.q) | Q(object_id=f.q)
        if _is_ip(f.q):
            match |= Q(ip=f.q)
        qs = qs.filter(match)
    return qs.order_by("-at", "-id")


def audit_event_actions() -> list[str]:
    """Distinct actions recorded so far (for the filter's choices)."""
    return sorted(AuditEvent.objects.values_list("action", flat=True).distinct())
