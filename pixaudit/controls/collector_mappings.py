"""Collectors declare their control mappings; this keeps CheckMapping in step with them."""

from __future__ import annotations

from collectors import registry
from pixaudit.controls.services import SyncResult, check_mappings_sync


def collector_mapping_declarations() -> list[tuple[str, str, str, str]]:
    """``(assertion_id, control_address, rationale, source)`` for every registered collector.

    Built-ins live in the ``collectors`` package; anything else came from an entry point.
    """
    registry.discover()
    declarations = []
    for cls in registry.all_collectors():
        source = "builtin" if cls.__module__.startswith("collectors.") else "plugin"
        for assertion in cls.assertions:
            rationale = assertion.rationale or assertion.title
            for address in assertion.controls:
                declarations.append((assertion.id, address, rationale, source))
    return declarations


def check_mappings_sync_from_registry() -> SyncResult:
    """Store the registered collectors' mappings (run after the catalogs are loaded)."""
    return check_mappings_sync(declarations=collector_mapping_declarations())
