"""Admin: posture history is read-only (decisions are appended through the app's
Statement of Applicability page, snapshots by the daily job)."""

from __future__ import annotations

from django.contrib import admin

from pixaudit.lib.admin import HistoryAdmin
from pixaudit.posture.models import ApplicabilityDecision, ReadinessSnapshot


@admin.register(ApplicabilityDecision)
class ApplicabilityDecisionAdmin(HistoryAdmin):
    list_display = ("control", "applicable", "decided_by", "decided_at")
    list_filter = ("applicable", "control__framework")


@admin.register(ReadinessSnapshot)
class ReadinessSnapshotAdmin(HistoryAdmin):
    list_display = ("framework", "day", "readiness", "assessable", "taken_at")
    list_filter = ("framework",)
