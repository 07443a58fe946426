"""Admin: evidence history is read-only; connections never show their secrets."""

from __future__ import annotations

from django.contrib import admin

from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem, Finding, LatestResult


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete: history is written by the runner only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    # View only. Secrets are excluded entirely (not even ciphertext): they are write-only.
    # Creating and editing go through the app's connection form and the services, which
    # validate params and thresholds, encrypt, record who edited and audit what changed.
    list_display = ("name", "collector_key", "enabled", "schedule_minutes", "next_run_at",
                    "updated_by", "updated_at")  # fmt: skip
    list_filter = ("collector_key", "enabled")
    search_fields = ("name", "collector_key")
    exclude = ("secrets",)
    readonly_fields = ("secret_names",)

    @admin.display(description="Secrets set")
    def secret_names(self, obj):
        return ", ".join(sorted(obj.secrets)) or "—"


@admin.register(CollectionRun)
class CollectionRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "collector_key", "connection", "status", "trigger", "attempt",
        "queued_at", "finished_at", "rows_count", "findings_fail", "findings_error",
    )  # fmt: skip
    list_filter = ("status", "trigger", "collector_key")
    exclude = ("secrets",)


@admin.register(EvidenceItem)
class EvidenceItemAdmin(ReadOnlyAdmin):
    list_display = ("seq", "collector_key", "connection", "collected_at", "row_count",
                    "findings_count", "sha256")  # fmt: skip
    list_filter = ("collector_key",)
    search_fields = ("sha256", "chain_hash")


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("assertion_id", "resource", "status", "severity", "collected_at")
    list_filter = ("status", "severity")
    search_fields = ("assertion_id", "resource")
    raw_id_fields = ("evidence", "run")
    show_full_result_count = False  # history is large; skip the COUNT(*)


@admin.register(LatestResult)
class LatestResultAdmin(ReadOnlyAdmin):
    list_display = ("assertion_id", "resource", "connection", "status", "severity", "collected_at")
    list_filter = ("status", "severity", "collector_key")
    search_fields = ("assertion_id", "resource")
    raw_id_fields = ("evidence", "run", "connection")
    list_select_related = ("connection",)
