import json

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from pixaudit.accounts.models import User


@admin.register(User)
class PixauditUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = UserAdmin.fieldsets + (("pixaudit", {"fields": ("role",)}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("pixaudit", {"fields": ("role", "email")}),)


# --- Every change made through the Django admin goes to the audit log too ------------------
# Django's own LogEntry is an ordinary, editable table; the audit log is the append-only
# record (a role change made in the admin must show up there, with the admin's address).
# ModelAdmin's three log hooks are wrapped once, for every model registered anywhere.


def _admin_audit(action: str, request, obj, message) -> None:
    from pixaudit.auditlog.services import audit_log_record

    if isinstance(message, list):
        message = json.dumps(message, default=str)
    audit_log_record(action=action, obj=obj, request=request, via="django-admin",
                     change_message=str(message or "")[:2000])  # fmt: skip


def _wrap_admin_log_hooks() -> None:
    if getattr(admin.ModelAdmin, "_pixaudit_audited", False):
        return
    log_addition, log_change = admin.ModelAdmin.log_addition, admin.ModelAdmin.log_change
    log_deletions = admin.ModelAdmin.log_deletions

    def audited_addition(self, request, obj, message):
        entry = log_addition(self, request, obj, message)
        _admin_audit("admin.add", request, obj, message)
        return entry

    def audited_change(self, request, obj, message):
        entry = log_change(self, request, obj, message)
        _admin_audit("admin.change", request, obj, message)
        return entry

    def audited_deletions(self, request, queryset):
        objects = list(queryset)
        entries = log_deletions(self, request, objects)
        for obj in objects:
            _admin_audit("admin.delete", request, obj, "")
        return entries

    admin.ModelAdmin.log_addition = audited_addition
    admin.ModelAdmin.log_change = audited_change
    admin.ModelAdmin.log_deletions = audited_deletions
    admin.ModelAdmin._pixaudit_audited = True


_wrap_admin_log_hooks()
