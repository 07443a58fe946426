"""Writes for the controls app: catalog loading, check-mapping sync, mapping overrides."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from pixaudit.controls.catalog_loader import Catalog, CatalogError, parse_catalog
from pixaudit.controls.models import CheckMapping, Control, Framework, MappingOverride
from pixaudit.controls.selectors import mapping_pair_state, parse_control_address

CATALOG_DIR = Path(__file__).resolve().parent / "catalogs"

# Fields of Control that the catalog file decides (besides parent).
_CATALOG_FIELDS = (
    "title",
    "description",
    "kind",
    "category",
    "assessable",
    "sort_order",
    "extra",
)
_HEADER_FIELDS = ("name", "version", "publisher", "copyright", "source_sha256")


# --- Catalogs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    framework: str
    created: int
    updated: int
    unchanged: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def builtin_catalog_paths() -> list[Path]:
    return sorted(CATALOG_DIR.glob("*.yaml"))


def catalogs_load_builtin() -> list[LoadResult]:
    """Load every catalog shipped in ``pixaudit/controls/catalogs`` (idempotent)."""
    with transaction.atomic():
        return [catalog_load(path=path) for path in builtin_catalog_paths()]


def catalog_load(*, path: str | Path) -> LoadResult:
    """Upsert one catalog file's framework and controls, in one transaction.

    Loading the same file twice changes nothing. Controls that are no longer in the file are
    deleted, unless a CheckMapping or MappingOverride refers to them: then nothing is written
    and a CatalogError names them.
    """
    catalog = parse_catalog(path)
    with transaction.atomic():
        return _catalog_apply(catalog)


def _catalog_apply(catalog: Catalog) -> LoadResult:
    header = {
        "name": catalog.name,
        "version": catalog.version,
        "publisher": catalog.publisher,
        "copyright": catalog.copyright,
        "source_sha256": catalog.source_sha256,
    }
    framework, framework_created = Framework.objects.select_for_update().get_or_create(
        key=catalog.key, defaults=header
    )
    existing = {control.ref: control for control in Control.objects.filter(framework=framework)}
    wanted = {node.ref for node in catalog.nodes}

    removed_refs = sorted(set(existing) - wanted, key=lambda ref: existing[ref].sort_order)
    if removed_refs:
        _check_removable(catalog, [existing[ref] for ref in removed_refs])

    by_ref: dict[str, Control] = dict(existing)
    created_by_depth: dict[int, list[Control]] = {}
    to_update: list[Control] = []
    unchanged = 0
    for node in catalog.nodes:
        values: dict[str, Any] = {name: getattr(node, name) for name in _CATALOG_FIELDS}
        parent = by_ref[node.parent_ref] if node.parent_ref else None
        control = existing.get(node.ref)
        if control is None:
            control = Control(framework=framework, ref=node.ref, parent=parent, **values)
            by_ref[node.ref] = control
            created_by_depth.setdefault(node.depth, []).append(control)
    # Create level by level so that every new child's parent already has a primary key.
    for depth in sorted(created_by_depth):
        Control.objects.bulk_create(created_by_depth[depth])

    update_fields = [*_CATALOG_FIELDS, "parent"]
    for node in catalog.nodes:
        control = existing.get(node.ref)
        if control is None:
            continue
        parent_id = by_ref[node.parent_ref].pk if node.parent_ref else None
        values = {name: getattr(node, name) for name in _CATALOG_FIELDS}
        if control.parent_id == parent_id and all(
            getattr(control, name) == value for name, value in values.items()
        ):
            unchanged += 1
            continue
        for name, value in values.items():
            setattr(control, name, value)
        control.parent_id = parent_id
        to_update.append(control)
    if to_update:
        Control.objects.bulk_update(to_update, update_fields)
    if removed_refs:
        # Survivors were re-parented above, so deleting cannot cascade into them.
        Control.objects.filter(framework=framework, ref__in=removed_refs).delete()

    created = sum(len(batch) for batch in created_by_depth.values())
    result = LoadResult(
        framework=catalog.key,
        created=created,
        updated=len(to_update),
        unchanged=unchanged,
        removed=len(removed_refs),
    )
    header_changed = any(getattr(framework, name) != value for name, value in header.items())
    if framework_created or header_changed or result.changed:
        for name, value in header.items():
            setattr(framework, name, value)
        framework.loaded_at = timezone.now()
        framework.save()
    return result


def _check_removable(catalog: Catalog, controls: list[Control]) -> None:
    ids = [control.pk for control in controls]
    mapped = dict(
        CheckMapping.objects.filter(control_id__in=ids)
        .values_list("control_id")
        .annotate(n=Count("id"))
    )
    overridden = dict(
        MappingOverride.objects.filter(control_id__in=ids)
        .values_list("control_id")
        .annotate(n=Count("id"))
    )
    # History that names a control (append-only, PROTECT): Statement of Applicability
    # decisions and manual evidence links, counted through their reverse relations.
    history = {
        row["pk"]: row
        for row in Control.objects.filter(pk__in=ids)
        .annotate(
            decisions=Count("applicability_decisions", distinct=True),
            manual=Count("manual_links", distinct=True),
        )
        .values("pk", "decisions", "manual")
    }
    blocked = []
    for control in controls:
        parts = []
        if mapped.get(control.pk):
            parts.append(f"{mapped[control.pk]} check mapping(s)")
        if overridden.get(control.pk):
            parts.append(f"{overridden[control.pk]} mapping override(s)")
        if history[control.pk]["decisions"]:
            parts.append(f"{history[control.pk]['decisions']} applicability decision(s)")
        if history[control.pk]["manual"]:
            parts.append(f"{history[control.pk]['manual']} manual evidence upload(s)")
        if parts:
            blocked.append(f"{control.ref} ({' and '.join(parts)})")
    if blocked:
        raise CatalogError(
            catalog.file,
            None,
            f"cannot remove {len(blocked)} control(s) of {catalog.key} that are no longer in "
            f"the file because evidence mappings or history refer to them: "
            f"{', '.join(blocked)}. Keep them in the catalog, or move those mappings first "
            "(history is append-only and stays).",
        )


# --- Check mappings ------------------------------------------------------------------------


class MappingDeclarationError(ValueError):
    """Collectors declared a mapping that cannot be stored (e.g. an unknown control address)."""


@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    unchanged: int
    deleted: int


def check_mappings_sync(*, declarations: Iterable[tuple[str, str, str, str]]) -> SyncResult:
    """Make CheckMapping match the collectors' declarations.

    ``declarations`` are ``(assertion_id, control_address, rationale, source)`` tuples, e.g.
    ``("aws_s3_buckets.default_encryption", "soc2-2017:CC6.1", "...", "builtin")``. Rows are
    upserted; builtin rows that are no longer declared are deleted (plugin rows stay until a
    plugin is synced again with a different set). Nothing is written if any address is unknown.
    """
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    problems: list[str] = []
    for index, declaration in enumerate(declarations):
        try:
            assertion_id, address, rationale, source = declaration
        except (TypeError, ValueError):
            problems.append(f"declaration #{index + 1} is not (assertion, control, why, source)")
            continue
        if source not in CheckMapping.Source.values:
            problems.append(f"{assertion_id} -> {address}: unknown source {source!r}")
            continue
        if not (rationale or "").strip():
            problems.append(f"{assertion_id} -> {address}: a rationale is required")
            continue
        key = (assertion_id, address)
        if key in wanted and wanted[key] != (rationale.strip(), source):
            problems.append(f"{assertion_id} -> {address} is declared twice, differently")
            continue
        wanted[key] = (rationale.strip(), source)
    if problems:
        raise MappingDeclarationError("invalid check mappings: " + "; ".join(problems))

    controls = _controls_by_address({address for _, address in wanted})
    unknown = sorted({address for _, address in wanted if address not in controls})
    if unknown:
        raise MappingDeclarationError(
            f"unknown control address(es): {', '.join(unknown)} "
            "(expected '<framework>:<ref>' of a loaded catalog, e.g. 'soc2-2017:CC6.1')"
        )
    groups = sorted({address for _, address in wanted if not controls[address].assessable})
    if groups:
        raise MappingDeclarationError(
            f"cannot map evidence to group(s) that are not assessable: {', '.join(groups)}"
        )

    with transaction.atomic():
        current = {
            (row.assertion_id, row.control_id): row
            for row in CheckMapping.objects.select_for_update()
        }
        to_create, to_update = [], []
        unchanged = 0
        seen = set()
        for (assertion_id, address), (rationale, source) in wanted.items():
            control = controls[address]
            seen.add((assertion_id, control.pk))
            row = current.get((assertion_id, control.pk))
            if row is None:
                to_create.append(
                    CheckMapping(
                        assertion_id=assertion_id,
                        control=control,
                        rationale=rationale,
                        source=source,
                    )
                )
            elif (row.rationale, row.source) != (rationale, source):
                row.rationale, row.source = rationale, source
                to_update.append(row)
            else:
                unchanged += 1
        stale = [
            row.pk
            for key, row in current.items()
            if key not in seen and row.source == CheckMapping.Source.BUILTIN
        ]
        CheckMapping.objects.bulk_create(to_create)
        if to_update:
            CheckMapping.objects.bulk_update(to_update, ["rationale", "source"])
        if stale:
            CheckMapping.objects.filter(pk__in=stale).delete()
    return SyncResult(
        created=len(to_create), updated=len(to_update), unchanged=unchanged, deleted=len(stale)
    )


def _controls_by_address(addresses: set[str]) -> dict[str, Control]:
    refs_by_key: dict[str, set[str]] = {}
    for address in addresses:
        try:
            key, ref = parse_control_address(address)
        except ValueError:
            continue
        refs_by_key.setdefault(key, set()).add(ref)
    if not refs_by_key:
        return {}
    all_refs = set().union(*refs_by_key.values())
    found = Control.objects.select_related("framework").filter(
        framework__key__in=refs_by_key, ref__in=all_refs
    )
    return {
        control.address: control
        for control in found
        if control.ref in refs_by_key.get(control.framework.key, ())
    }


# --- Mapping overrides ---------------------------------------------------------------------

ASSERTION_ID_RE = re.compile(r"^[a-z0-9_\-]+(\.[a-z0-9_\-]+)+$")


def mapping_override_validate(
    *, assertion_id: str, control: Control, action: str, reason: str
) -> None:
    """Raise ValidationError (per field) if this override would be invalid or redundant."""
    errors: dict[str, str] = {}
    if not ASSERTION_ID_RE.match(assertion_id or ""):
        errors["assertion_id"] = (
            f"'{assertion_id}' is not an assertion id (expected '<collector>.<check>', "
            "e.g. 'aws_s3_buckets.default_encryption')."
        )
    if not (reason or "").strip():
        errors["reason"] = "A reason is required: say why this mapping is added or removed."
    if action not in MappingOverride.Action.values:
        errors["action"] = f"Action must be 'add' or 'remove', not {action!r}."
    if not control.assessable:
        errors["control"] = f"{control.address} is a group; map evidence to its controls."
    if errors:
        raise ValidationError(errors)

    state = mapping_pair_state(assertion_id=assertion_id, control=control)
    pair = f"{assertion_id} → {control.address}"
    if action == MappingOverride.Action.REMOVE and not state.effective:
        if state.mapped:
            raise ValidationError(
                {"action": f"The mapping {pair} is already removed by an earlier override."}
            )
        raise ValidationError(
            {"action": f"There is no mapping {pair} to remove: no collector declares it."}
        )
    if action == MappingOverride.Action.ADD and state.effective:
        how = "a collector declares it" if state.mapped else "an earlier override added it"
        raise ValidationError({"action": f"The mapping {pair} already exists: {how}."})


def mapping_override_create(
    *, assertion_id: str, control: Control, action: str, reason: str, user: Any | None
) -> MappingOverride:
    """Record an organisation's decision to add or remove one assertion → control mapping."""
    assertion_id = (assertion_id or "").strip()
    with transaction.atomic():
        # Serialise overrides of one control so two concurrent requests cannot both pass.
        Control.objects.select_for_update().filter(pk=control.pk).first()
        mapping_override_validate(
            assertion_id=assertion_id, control=control, action=action, reason=reason
        )
        override = MappingOverride(
            assertion_id=assertion_id,
            control=control,
            action=action,
            reason=reason.strip(),
            created_by=user,
        )
        override.full_clean()
        override.save()
    return override
