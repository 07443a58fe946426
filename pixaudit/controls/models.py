"""Frameworks, their control trees, and the map from evidence assertions to controls.

Catalog rows (Framework, Control) are written only by ``services.catalog_load`` from the YAML
files in ``catalogs/``; CheckMapping rows only by ``services.check_mappings_sync`` from the
collectors' declarations; MappingOverride rows only by ``services.mapping_override_create``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from pixaudit.controls.catalog_loader import oscal_id_for
from pixaudit.lib.append_only import AppendOnlyHistoryModel


class Framework(models.Model):
    key = models.SlugField(max_length=64, unique=True, help_text="e.g. soc2-2017")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100)
    publisher = models.CharField(max_length=200)
    copyright = models.TextField(help_text="What pixaudit ships of this framework, and why.")
    loaded_at = models.DateTimeField(default=timezone.now)
    source_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the catalog YAML.")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class Control(models.Model):
    class Kind(models.TextChoices):
        GROUP = "group", "Group"
        CONTROL = "control", "Control"
        REQUIREMENT = "requirement", "Requirement"

    class Category(models.TextChoices):
        SECURITY = "security", "Security"
        AVAILABILITY = "availability", "Availability"
        CONFIDENTIALITY = "confidentiality", "Confidentiality"
        PROCESSING_INTEGRITY = "processing_integrity", "Processing integrity"
        PRIVACY = "privacy", "Privacy"

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="controls")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    ref = models.CharField(max_length=32, help_text='e.g. "CC6.1", "A.8.24", "6.1.2"')
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    assessable = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(help_text="Depth-first position in the framework.")
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["framework", "sort_order"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "ref"], name="controls_unique_ref"),
        ]
        indexes = [
            models.Index(fields=["framework", "sort_order"], name="controls_tree_idx"),
            models.Index(fields=["framework", "kind", "assessable"], name="controls_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"

    @property
    def address(self) -> str:
        """The id collectors use: ``soc2-2017:CC6.1``."""
        return f"{self.framework.key}:{self.ref}"

    @property
    def oscal_id(self) -> str:
        return oscal_id_for(self.ref)

    @property
    def is_group(self) -> bool:
        return self.kind == self.Kind.GROUP


class CheckMapping(models.Model):
    """An evidence assertion declared (by a built-in or plugin collector) to support a control."""

    class Source(models.TextChoices):
        BUILTIN = "builtin", "Built-in"
        PLUGIN = "plugin", "Plugin"

    assertion_id = models.CharField(max_length=200, db_index=True)
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="check_mappings")
    rationale = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BUILTIN)

    class Meta:
        ordering = ["assertion_id", "control__sort_order"]
        constraints = [
            models.UniqueConstraint(
                fields=["assertion_id", "control"], name="controls_unique_check_mapping"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assertion_id} -> {self.control_id}"


class MappingOverride(AppendOnlyHistoryModel):
    """An organisation's decision to add or remove one assertion -> control mapping.

    Append-only (``pixaudit.lib.append_only``): the latest override for an (assertion,
    control) pair wins; nothing is changed or deleted.
    """

    class Action(models.TextChoices):
        ADD = "add", "Add"
        REMOVE = "remove", "Remove"

    assertion_id = models.CharField(max_length=200)
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="overrides")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mapping_overrides",
        help_text="Empty for overrides made by the system.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["assertion_id", "control"], name="controls_override_pair_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=["add", "remove"]), name="controls_override_action"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.assertion_id} -> {self.control_id}"
