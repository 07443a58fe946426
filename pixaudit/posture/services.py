"""Writes of the posture app: Statement of Applicability decisions and readiness snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Control, Framework
from pixaudit.posture.models import ApplicabilityDecision, ReadinessSnapshot
from pixaudit.posture.selectors import applicability_history, framework_posture

__all__ = [
    "ApplicabilityError",
    "applicability_decide",
    "readiness_snapshot_take",
    "readiness_snapshots_take_all",
]

_MAX_JUSTIFICATION = 4000


@dataclass
class ApplicabilityError(ValueError):
    """Invalid decision; ``errors`` maps a field name to a message."""

    errors: dict[str, str]

    def __str__(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))


def applicability_decide(
    *,
    control: Control,
    applicable: bool,
    justification: str = "",
    user: Any = None,
    now: datetime | None = None,
    request: Any = None,
) -> ApplicabilityDecision:
    """Record a Statement of Applicability decision (appended; the latest one wins).

    Excluding a control needs a justification; group nodes carry no decision. Audited as
    ``soa.decided`` with the previous decision.
    """
    justification = (justification or "").strip()
    errors: dict[str, str] = {}
    if control.kind == Control.Kind.GROUP:
        errors["control"] = "Groups are not in the Statement of Applicability."
    if not applicable and not justification:
        errors["justification"] = "Explain why the control is not applicable."
    if len(justification) > _MAX_JUSTIFICATION:
        errors["justification"] = f"Keep the justification under {_MAX_JUSTIFICATION} characters."
    if errors:
        raise ApplicabilityError(errors)
    with transaction.atomic():
        previous = applicability_history(control=control).first()
        decision = ApplicabilityDecision.objects.create(
            control=control,
            applicable=bool(applicable),
            justification=justification,
            decided_by=user if getattr(user, "pk", None) else None,
            decided_at=now or timezone.now(),
        )
        audit_log_record(
            actor=decision.decided_by, action="soa.decided", obj=decision, request=request,
            control=control.address, applicable=decision.applicable,
            justification=justification,
            previous=None if previous is None else {"applicable": previous.applicable,
                                                    "decision_id": previous.pk},
        )  # fmt: skip
    return decision


def readiness_snapshot_take(
    *, framework: Framework, day: date | None = None, now: datetime | None = None
) -> ReadinessSnapshot:
    """Append a snapshot of the framework's current posture for ``day`` (UTC).

    Snapshots are history: taking one again the same day appends another row, and the trend
    shows the latest of each day (``selectors.readiness_trend``); none is ever rewritten.
    """
    now = now or timezone.now()
    day = day or now.date()
    posture = framework_posture(framework=framework, now=now)
    return ReadinessSnapshot.objects.create(
        framework=framework,
        day=day,
        readiness=round(posture.readiness or 0.0, 2),
        assessable=posture.assessable,
        counts=dict(posture.counts),
        taken_at=now,
    )


def readiness_snapshots_take_all(*, now: datetime | None = None) -> list[ReadinessSnapshot]:
    """One snapshot per loaded framework (what the daily job runs)."""
    return [
        readiness_snapshot_take(framework=framework, now=now)
        for framework in Framework.objects.order_by("key")
    ]
