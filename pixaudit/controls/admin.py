"""Admin: catalogs and check mappings are read-only here (they come from YAML files and the
collectors); mapping overrides are created through the service, never edited or deleted."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from pixaudit.controls.models import CheckMapping, Control, Framework, MappingOverride
from pixaudit.controls.services import mapping_override_create, mapping_override_validate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Framework)
class FrameworkAdmin(ReadOnlyAdmin):
    list_display = ["key", "name", "version", "publisher", "loaded_at"]
    search_fields = ["key", "name"]
    readonly_fields = ["source_sha256", "loaded_at"]


@admin.register(Control)
class ControlAdmin(ReadOnlyAdmin):
    list_display = ["ref", "title", "framework", "kind", "category", "assessable", "parent"]
    list_filter = ["framework", "kind", "category", "assessable"]
    search_fields = ["ref", "title", "description"]
    list_select_related = ["framework", "parent"]
    ordering = ["framework", "sort_order"]
    list_per_page = 200


@admin.register(CheckMapping)
class CheckMappingAdmin(ReadOnlyAdmin):
    list_display = ["assertion_id", "control_address", "source"]
    list_filter = ["source", "control__framework"]
    search_fields = ["assertion_id", "control__ref", "rationale"]
    list_select_related = ["control__framework"]

    @admin.display(description="Control", ordering="control__ref")
    def control_address(self, obj: CheckMapping) -> str:
        return obj.control.address


class MappingOverrideForm(forms.ModelForm):
    class Meta:
        model = MappingOverride
        fields = ["assertion_id", "control", "action", "reason"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            mapping_override_validate(
                assertion_id=(data.get("assertion_id") or "").strip(),
                control=data["control"],
                action=data.get("action", ""),
                reason=data.get("reason", ""),
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return data


@admin.register(MappingOverride)
class MappingOverrideAdmin(admin.ModelAdmin):
    form = MappingOverrideForm
    list_display = ["assertion_id", "control_address", "action", "created_by", "created_at"]
    list_filter = ["action", "control__framework"]
    search_fields = ["assertion_id", "control__ref", "reason"]
    list_select_related = ["control__framework", "created_by"]
    autocomplete_fields = ["control"]
    date_hierarchy = "created_at"

    @admin.display(description="Control", ordering="control__ref")
    def control_address(self, obj: MappingOverride) -> str:
        return obj.control.address

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["assertion_id", "control", "action", "reason", "created_by", "created_at"]
        return []

    def has_change_permission(self, request, obj=None):
        # Overrides are append-only: viewable, never edited (add a new one instead).
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = mapping_override_create(
            assertion_id=obj.assertion_id,
            control=obj.control,
            action=obj.action,
            reason=obj.reason,
            user=request.user,
        )
        obj.pk = created.pk
        obj.created_by = created.created_by
        obj.created_at = created.created_at
