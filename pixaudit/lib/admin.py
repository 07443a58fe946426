"""Shared Django admin base classes."""

from __future__ import annotations

from django.contrib import admin

__all__ = ["HistoryAdmin"]


class HistoryAdmin(admin.ModelAdmin):
    """History is viewable, never added, changed or deleted in the admin.

    The "delete selected" bulk action is removed too: it is offered whenever delete is not
    refused per request, and history must not even look deletable.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
