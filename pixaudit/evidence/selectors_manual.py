"""Reads of manual evidence: current proof per control, what expires soon, requirements.

"Current" for a control means: among the uploads that support it, the one valid the
longest (``valid_until``); it is *expired* when that date is before today. Uploads are never
edited: a newer upload for the same control simply becomes the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from pixaudit.evidence.models import ManualEvidence, ManualEvidenceControl, ManualRequirement

__all__ = [
    "EXPIRING_SOON_DAYS",
    "ManualControlState",
    "manual_annotate_controls",
    "manual_evidence_current",
    "manual_evidence_expiring",
    "manual_evidence_for_control",
    "manual_evidence_list",
    "manual_state_of",
    "manual_states",
]

EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True)
class ManualControlState:
    """Manual evidence situation of one control."""

    address: str
    required: bool
    valid_until: date | None  # of the upload valid the longest (None: never evidenced)
    current_id: int | None = None

    def valid(self, today: date) -> bool:
        return self.valid_until is not None and self.valid_until >= today

    def pending(self, today: date) -> bool:
        """Needs a (new) upload: required or previously evidenced, and nothing valid now."""
        return (self.required or self.valid_until is not None) and not self.valid(today)


def manual_evidence_list() -> QuerySet[ManualEvidence]:
    return ManualEvidence.objects.select_related("owner", "uploaded_by", "evidence")


def _best_link(control_ref) -> QuerySet[ManualEvidenceControl]:
    return ManualEvidenceControl.objects.filter(control=control_ref).order_by(
        "-manual__valid_until", "-manual__uploaded_at", "-manual_id"
    )


def manual_annotate_controls(qs: QuerySet) -> QuerySet:
    """Annotate a Control queryset with its manual state (no extra query): see
    :func:`manual_state_of`."""
    best = _best_link(OuterRef("pk"))
    return qs.annotate(
        manual_valid_until=Subquery(best.values("manual__valid_until")[:1]),
        manual_current_id=Subquery(best.values("manual_id")[:1]),
        manual_required=Exists(ManualRequirement.objects.filter(control=OuterRef("pk"))),
    )


def manual_state_of(control) -> ManualControlState | None:
    """State of a control annotated by :func:`manual_annotate_controls`; None when the
    control has neither an upload nor a requirement."""
    until = getattr(control, "manual_valid_until", None)
    required = bool(getattr(control, "manual_required", False))
    if until is None and not required:
        return None
    return ManualControlState(
        control.address, required, until, getattr(control, "manual_current_id", None)
    )


def manual_states(*, addresses: set[str] | None = None) -> dict[str, ManualControlState]:
    """address -> state, for every control with an upload or a requirement (two queries)."""
    best: dict[str, tuple[date, int]] = {}
    links = ManualEvidenceControl.objects.select_related("control__framework", "manual").order_by(
        "manual__valid_until", "manual__uploaded_at", "manual_id"
    )
    for link in links:
        best[link.control.address] = (link.manual.valid_until, link.manual_id)
    required = {
        r.control.address for r in ManualRequirement.objects.select_related("control__framework")
    }
    keys = set(best) | required
    if addresses is not None:
        keys &= addresses
    return {
        a: ManualControlState(a, a in required, *(best.get(a) or (None, None)))
        for a in sorted(keys)
    }


def manual_evidence_for_control(*, control) -> list[ManualEvidence]:
    """Every upload that supports ``control``, the current proof (valid the longest) first
    (one query). The first one decides the control's manual state (see ``ManualControlState``)."""
    return list(
        manual_evidence_list()
        .filter(control_links__control=control)
        .order_by("-valid_until", "-uploaded_at", "-id")
    )


def manual_evidence_current() -> dict[str, ManualEvidence]:
    """control address -> its longest-valid upload (one query over a small table)."""
    best: dict[str, ManualEvidence] = {}
    for item in manual_evidence_list().order_by("valid_until", "uploaded_at", "id"):
        for address in item.control_addresses:
            best[address] = item  # ascending order: the last one wins
    return best


def manual_evidence_expiring(
    *, within_days: int = EXPIRING_SOON_DAYS, today: date | None = None
) -> list[ManualEvidence]:
    """Uploads that are some control's current proof and expire within ``within_days``
    (already expired ones included), soonest first."""
    today = today or timezone.now().date()
    horizon = today + timedelta(days=within_days)
    seen: dict[int, ManualEvidence] = {}
    for item in manual_evidence_current().values():
        if item.valid_until <= horizon:
            seen[item.pk] = item
    return sorted(seen.values(), key=lambda i: (i.valid_until, i.pk))
