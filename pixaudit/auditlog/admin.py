from django.contrib import admin

from pixaudit.auditlog.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only, so the admin can neither add, change nor delete."""

    list_display = ("at", "actor_repr", "action", "object_type", "object_repr", "ip")
    list_filter = ("action",)
    search_fields = ("actor_repr", "object_repr", "object_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
