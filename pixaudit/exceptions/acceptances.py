"""Risk acceptances in force: the one read posture and the exceptions register share.

``accepted_failures`` lives here, below both ``posture.selectors`` (which marks accepted
failures in a control's states) and ``exceptions.selectors`` (which reads the whole
register and uses posture's assertion catalog): it depends on the register's models only,
so posture imports it at module level and neither selectors module imports the other
lazily. ``exceptions.selectors`` re-exports it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Count, Exists, OuterRef, Q

from pixaudit.exceptions.models import AcceptanceStatus, ExceptionAcceptance, ExceptionRecord

__all__ = ["accepted_failures"]


def accepted_failures(
    *,
    assertion_ids,
    at: datetime,
    up_to_seq: int | None = None,
    connections=None,
    by_connection: bool = False,
) -> dict:
    """assertion -> number of its exceptions failing at ``at`` whose risk acceptance was in
    force then (approved by ``at``, not revoked by then, ``expires_on`` on or after its UTC
    day): the FAIL results that posture reports as excluded from monitoring (one query).
    ``by_connection``: keyed ``(assertion, connection id)`` instead (per-account views).

    With ``up_to_seq`` (a report's chain head) the register is read as of that position: an
    exception opened by a later item does not count, one closed by a later item is open."""
    day = at.astimezone(UTC).date()
    in_force = ExceptionAcceptance.objects.filter(
        exception=OuterRef("pk"),
        status__in=[AcceptanceStatus.APPROVED, AcceptanceStatus.REVOKED],
        decided_at__lte=at,
        expires_on__gte=day,
    ).filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=at))
    qs = ExceptionRecord.objects.filter(assertion_id__in=sorted(assertion_ids), opened_at__lte=at)
    still_open = Q(closed_at__isnull=True) | Q(closed_at__gt=at)
    if up_to_seq is not None:
        qs = qs.filter(start_seq__lte=up_to_seq)
        still_open |= Q(end_seq__gt=up_to_seq)
    if connections is not None:
        qs = qs.filter(connection_id__in=sorted(connections))
    rows = (
        qs.filter(still_open)
        .filter(Exists(in_force))
        .values_list(*(("assertion_id", "connection_id") if by_connection else ("assertion_id",)))
        .annotate(n=Count("id"))
        .order_by()
    )
    if by_connection:
        return {(a, c): n for a, c, n in rows}
    return dict(rows)
