from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from pixaudit.accounts.models import User


@admin.register(User)
class PixauditUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_staff")
    fieldsets = UserAdmin.fieldsets + (("pixaudit", {"fields": ("role",)}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("pixaudit", {"fields": ("role", "email")}),)
