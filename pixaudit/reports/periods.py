"""Report periods (whole UTC days) and the seam to audit engagements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.apps import apps
from django.utils import timezone

from pixaudit.controls.models import Framework


class EngagementUnavailable(LookupError):
    """The audits app, its Engagement model or the engagement itself is missing."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends inclusive; ``since``/``until`` are the datetime bounds."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """Exclusive upper bound: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def period_default(*, days: int = 90, today: date | None = None) -> Period:
    """The ``days`` days ending today (UTC)."""
    today = today or timezone.now().date()
    return Period(today - timedelta(days=days - 1), today)


# --- Engagement seam ----------------------------------------------------------------------


def engagement_scope(*, engagement_id: int) -> tuple[Period, list[Framework], str]:
    """The period, frameworks and name of an audit engagement.

    The audits app is optional from this app's point of view: its model is looked up at run
    time (never imported at module import), so reports work before engagements exist.
    """
    if not apps.is_installed("pixaudit.audits"):
        raise EngagementUnavailable("the audits app is not installed")
    try:
        model = apps.get_model("audits", "Engagement")
    except LookupError:
        raise EngagementUnavailable("the audits app has no Engagement model") from None
    engagement = model.objects.filter(pk=engagement_id).first()
    if engagement is None:
        raise EngagementUnavailable(f"no engagement with id {engagement_id}")
    frameworks = list(engagement.frameworks.order_by("key"))
    return Period(engagement.window_start, engagement.window_end), frameworks, engagement.name
