from __future__ import annotations

from django.contrib import admin

from pixaudit.posture.models import ApplicabilityDecision, ReadinessSnapshot


@admin.register(ApplicabilityDecision)
class ApplicabilityDecisionAdmin(admin.ModelAdmin):
    list_display = ("control", "applicable", "decided_by", "decided_at")
    list_filter = ("applicable", "control__framework")
    readonly_fields = ("control", "applicable", "justification", "decided_by", "decided_at")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # history: new decisions are appended through the app


@admin.register(ReadinessSnapshot)
class ReadinessSnapshotAdmin(admin.ModelAdmin):
    list_display = ("framework", "day", "readiness", "assessable")
    list_filter = ("framework",)
