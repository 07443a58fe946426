"""Every registered collector maps only to assessable controls of the shipped catalogs."""

from __future__ import annotations

import pytest

from collectors import registry
from pixaudit.controls.catalog_loader import parse_catalog
from pixaudit.controls.collector_mappings import (
    check_mappings_sync_from_registry,
    collector_mapping_declarations,
)
from pixaudit.controls.models import CheckMapping
from pixaudit.controls.services import builtin_catalog_paths, catalogs_load_builtin


def _assessable_addresses() -> set[str]:
    addresses = set()
    for path in builtin_catalog_paths():
        catalog = parse_catalog(path)
        addresses |= {f"{catalog.key}:{n.ref}" for n in catalog.nodes if n.assessable}
    return addresses


@pytest.mark.smoke
def test_every_control_id_used_by_a_collector_is_an_assessable_catalog_control():
    registry.discover(strict=True)
    known = _assessable_addresses()
    unknown = {
        f"{a.id} -> {c}"
        for cls in registry.all_collectors()
        for a in cls.assertions
        for c in a.controls
        if c not in known
    }
    assert unknown == set()


def test_every_assertion_maps_to_both_frameworks():
    registry.discover(strict=True)
    one_sided = [
        a.id
        for cls in registry.all_collectors()
        for a in cls.assertions
        if not (
            any(c.startswith("soc2-2017:") for c in a.controls)
            and any(c.startswith("iso27001-2022:") for c in a.controls)
        )
    ]
    assert one_sided == []


@pytest.mark.django_db
def test_sync_from_registry_stores_each_declaration_once_and_is_idempotent():
    catalogs_load_builtin()
    declarations = collector_mapping_declarations()
    first = check_mappings_sync_from_registry()
    assert first.created == len({(d[0], d[1]) for d in declarations}) > 0
    again = check_mappings_sync_from_registry()
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert CheckMapping.objects.filter(assertion_id="demo_inventory.encryption_at_rest").exists()
