"""Statement of Applicability decisions and daily readiness snapshots.

``ApplicabilityDecision`` is history: each change appends a row and the latest row of a
control wins, so "who decided what, when, and why" is never lost. ``ReadinessSnapshot`` is
history too: each snapshot (the daily job, ``make demo``) appends a row and the latest row of
a framework's day is that day's point on the trend charts. Both are append-only
(``pixaudit.lib.append_only``: ORM refusal, PostgreSQL triggers, read-only admin).
Business logic lives in ``services`` and ``selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pixaudit.controls.models import Control, Framework
from pixaudit.lib.append_only import AppendOnlyHistoryModel


class ApplicabilityDecision(AppendOnlyHistoryModel):
    """One Statement of Applicability entry for a control (latest per control wins)."""

    control = models.ForeignKey(
        Control, on_delete=models.PROTECT, related_name="applicability_decisions"
    )
    applicable = models.BooleanField()
    justification = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="applicability_decisions",
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [
            models.Index(fields=["control", "decided_at"], name="posture_soa_control_idx"),
        ]
        constraints = [
            # An exclusion without a reason is not a Statement of Applicability.
            models.CheckConstraint(
                condition=Q(applicable=True) | ~Q(justification=""),
                name="posture_soa_exclusion_justified",
            ),
        ]

    def __str__(self) -> str:
        state = "applicable" if self.applicable else "not applicable"
        return f"{self.control_id}: {state}"


class ReadinessSnapshot(AppendOnlyHistoryModel):
    """A framework's posture at ``taken_at`` (its UTC ``day``): readiness and status counts."""

    framework = models.ForeignKey(
        Framework, on_delete=models.PROTECT, related_name="readiness_snapshots"
    )
    day = models.DateField()
    readiness = models.FloatField(
        help_text="passing / (assessable - not applicable - risk accepted), 0..100"
    )
    assessable = models.PositiveIntegerField()
    counts = models.JSONField(default=dict, help_text="status -> number of controls")
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["framework", "day", "taken_at", "id"]
        indexes = [
            models.Index(fields=["framework", "day", "taken_at"], name="posture_snapshot_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.framework_id} {self.day}: {self.readiness:.1f}%"


class ControlOwner(models.Model):
    """Who is accountable for a control in this organisation (one owner per control).

    Catalog controls are shared reference data; ownership is the organisation's own, so it
    lives here and survives catalog reloads. Changes are recorded in the audit log.
    """

    control = models.OneToOneField(Control, on_delete=models.CASCADE, related_name="owner_row")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_controls"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.control_id} owned by {self.owner_id}"


class CoverageDay(models.Model):
    """Daily rollup of one assertion: what the findings said on UTC days (derived data).

    Written at ingest (``pixaudit.posture.rollup.coverage_after_ingest``) and rebuilt from
    history by ``manage.py coverage_rebuild``; coverage pages read it instead of scanning
    ``Finding``. A row covers the days ``day``..``until``, each of which had a collection
    reporting on the assertion; days without a row carry the previous row's end state (see
    ``pixaudit.posture.coverage``).

    - A *single-day* row (``until == day``): ``status`` is the worst result recorded that
      day, merged with the current state after each collection of the day (``fail`` >
      ``error`` > ``pass``; ``warn`` counts as ``error``); empty when nothing reported it.
    - A *run* (``until > day``): consecutive finished days with the same final result
      (``status``: ``pass``, ``stale``, ``error``, ``fail`` or empty), merged so a year of
      daily collections is a handful of rows. A day is merged only once a later day has a
      row, so the newest row of an assertion is always a single day.
    - ``end_status``: current state after the last collection of ``until``.
    - ``end_expires_at``: when that state's evidence goes stale (earliest over the
      connections reporting it, each one's freshest evidence), null without evidence;
      ``end_stale_on`` its UTC day.
    """

    assertion_id = models.CharField(max_length=200)
    day = models.DateField()
    until = models.DateField()
    status = models.CharField(max_length=8, blank=True, default="")
    end_status = models.CharField(max_length=8, blank=True, default="")
    end_expires_at = models.DateTimeField(null=True, blank=True)
    # The UTC day of ``end_expires_at``: the first day the carried state is stale (judged at
    # the end of each day). Pages read this date, not the timestamp (far cheaper to load).
    end_stale_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assertion_id", "day"], name="posture_coverage_day_uq")
        ]

    def __str__(self) -> str:
        return f"{self.assertion_id} {self.day}: {self.status}"
