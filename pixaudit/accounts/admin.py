"""Admin for users: roles, and MFA status and reset without ever showing a secret.

django-otp registers admin pages for its devices that show TOTP keys, QR codes and plain
static tokens, and let an admin add a device for anyone: they are unregistered here. An
admin sees whether someone has MFA and how many recovery codes are left, and can reset it
(the "Reset two-factor authentication" action, confirmed, audited as ``mfa.reset``).
"""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts import mfa
from pixaudit.accounts.models import User

for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(User)
class PixauditUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = UserAdmin.fieldsets + (
        ("pixaudit", {"fields": ("role",)}),
        ("Two-factor authentication", {"fields": ("mfa_summary",)}),
    )
    add_fieldsets = UserAdmin.add_fieldsets + (("pixaudit", {"fields": ("role", "email")}),)
    readonly_fields = ("mfa_summary",)
    actions = ["mfa_reset"]

    @admin.display(description="Two-factor authentication")
    def mfa_summary(self, obj: User) -> str:
        if obj is None or obj.pk is None:
            return "—"
        status = mfa.mfa_status(user=obj)
        if not status["enrolled"]:
            return "Authenticator app: not set up."
        used = status["last_used_at"]
        when = f", last used {timezone.localtime(used):%Y-%m-%d %H:%M}" if used else ""
        return (
            f"Authenticator app: set up{when}. Recovery codes left: "
            f"{status['recovery_codes_left']}. Secrets are never shown; reset it with the "
            "“Reset two-factor authentication” action of the user list."
        )

    @admin.action(description="Reset two-factor authentication of the selected users")
    def mfa_reset(self, request, queryset):
        """Remove the users' authenticator and recovery codes after a confirmation page."""
        users = list(queryset.order_by("username"))
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Reset two-factor authentication",
                "users": users,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/accounts/user/mfa_reset_confirm.html",
                                    context)  # fmt: skip
        done = []
        for user in users:
            try:
                mfa.mfa_reset(user=user, actor=request.user, request=request, via="django-admin")
            except mfa.MFAResetRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                done.append(user.get_username())
        if done:
            self.message_user(
                request,
                f"Two-factor authentication reset for {', '.join(done)}: they set it up again "
                "at their next sign-in.",
                messages.SUCCESS,
            )
        return None


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
