"""Registry: register, duplicates, temporarily, built-in walk and entry-point plugins."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import collectors
from collectors import CollectionContext, Collector, Column, registry
from collectors.registry import RegistryError


def _make(key: str, doc: str = "A test collector.") -> type[Collector]:
    def collect(self: Collector, ctx: CollectionContext) -> list[dict[str, Any]]:
        return []

    return type(
        "Temp",
        (Collector,),
        {
            "__doc__": doc,
            "key": key,
            "title": "Temp",
            "columns": (Column("id", "string", "Id."),),
            "resource_column": "id",
            "max_age": timedelta(days=1),
            "collect": collect,
        },
    )


def test_register_get_and_duplicate_key() -> None:
    first, second = _make("test_dup"), _make("test_dup")
    with registry.temporarily(first):
        assert registry.get("test_dup") is first
        registry.register(first)  # same class again: no-op
        with pytest.raises(RegistryError, match="duplicate collector key 'test_dup'"):
            registry.register(second)
    with pytest.raises(KeyError, match="unknown collector 'test_dup'"):
        registry.get("test_dup")


def test_register_rejects_structurally_broken_class() -> None:
    broken = _make("NotAKey")
    with pytest.raises(RegistryError, match="key 'NotAKey' must match"):
        registry.register(broken)
    with pytest.raises(RegistryError, match="not a Collector subclass"):
        registry.register(dict)  # type: ignore[arg-type]


def test_temporarily_as_decorator_and_sorted_listing() -> None:
    b, a = _make("test_bbb"), _make("test_aaa")

    @registry.temporarily(b, a)
    def inside() -> list[str]:
        return [cls.key for cls in registry.all_collectors()]

    keys = inside()
    assert keys == sorted(keys)
    assert {"test_aaa", "test_bbb"} <= set(keys)
    assert "test_aaa" not in {cls.key for cls in registry.all_collectors()}


def test_discover_finds_builtin_demo_and_is_idempotent() -> None:
    registry.discover(strict=True)
    demo = registry.get("demo_inventory")
    assert demo.__module__ == "collectors.demo.demo_inventory"
    before = registry.all_collectors()
    registry.discover(strict=True)
    assert registry.all_collectors() == before
    used = registry.all_control_ids_used()
    assert {"soc2-2017:CC6.1", "iso27001-2022:A.8.24", "iso27001-2022:A.8.5"} <= used


@pytest.fixture
def extra_builtin_path(tmp_path: Path, clean_registry: None) -> Iterator[Path]:
    """A temporary directory added to the ``collectors`` package path (a fake built-in)."""
    root = tmp_path / "pkgpath"
    (root / "zzsrc").mkdir(parents=True)
    collectors.__path__.append(str(root))
    try:
        yield root
    finally:
        collectors.__path__.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("collectors.zzsrc")]:
            del sys.modules[name]


def test_walk_imports_builtins_skips_private_and_reports_broken(extra_builtin_path: Path) -> None:
    pkg = extra_builtin_path / "zzsrc"
    (pkg / "__init__.py").write_text("")
    (pkg / "_helpers.py").write_text("raise RuntimeError('private modules are never imported')\n")
    (pkg / "zzsrc_broken.py").write_text("import does_not_exist_anywhere\n")
    (pkg / "zzsrc_widgets.py").write_text(
        textwrap.dedent(
            '''
            from datetime import timedelta
            from collectors import Collector, Column, register

            @register
            class ZzsrcWidgetsCollector(Collector):
                """Widgets."""

                key = "zzsrc_widgets"
                title = "Widgets"
                columns = (Column("id", "string", "Id."),)
                resource_column = "id"
                max_age = timedelta(days=1)

                def collect(self, ctx):
                    return []
            '''
        )
    )
    registry.discover(refresh=True)
    assert registry.get("zzsrc_widgets").__module__ == "collectors.zzsrc.zzsrc_widgets"
    names = [name for name, _ in registry.load_errors]
    assert names == ["collectors.zzsrc.zzsrc_broken"]
    assert "does_not_exist_anywhere" in registry.load_errors[0][1]
    with pytest.raises(RegistryError, match="zzsrc_broken"):
        registry.discover(strict=True)


PLUGIN_MODULE = '''
from datetime import timedelta
from collectors import Collector, Column, Severity, assertion


class AcmeThingsCollector(Collector):
    """Things from the Acme API (an external plugin)."""

    key = "acme_things"
    title = "Acme things"
    columns = (Column("id", "string", "Id."),)
    resource_column = "id"
    max_age = timedelta(hours=1)

    def collect(self, ctx):
        return [{"id": "t1"}]

    @assertion(
        "acme_things.exists",
        title="Things exist",
        severity=Severity.INFO,
        remediation="Create a thing.",
        controls=("iso27001-2022:A.5.9",),
    )
    def exists(row, params):
        return ("pass", "ok.")
'''


@pytest.fixture
def plugin_site(tmp_path: Path, clean_registry: None) -> Iterator[Path]:
    """A directory on sys.path holding plugin modules and a dist-info with entry points."""
    site = tmp_path / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m.startswith("acme_plugin")]:
            del sys.modules[name]


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[pixaudit.collectors]\n{entry_points}\n")


def test_entry_point_plugin_is_discovered(plugin_site: Path) -> None:
    (plugin_site / "acme_plugin_ok.py").write_text(PLUGIN_MODULE)
    _dist(plugin_site, "acme_plugin_ok", "acme_things = acme_plugin_ok:AcmeThingsCollector")
    registry.discover(strict=True, refresh=True)
    cls = registry.get("acme_things")
    assert cls.__module__ == "acme_plugin_ok"
    assert "iso27001-2022:A.5.9" in registry.all_control_ids_used()


def test_broken_plugin_is_reported_and_strict_raises(plugin_site: Path) -> None:
    (plugin_site / "acme_plugin_broken.py").write_text("raise ImportError('missing sdk extra')\n")
    (plugin_site / "acme_plugin_misnamed.py").write_text(PLUGIN_MODULE)
    _dist(
        plugin_site,
        "acme_plugin_broken",
        "acme_broken = acme_plugin_broken:Collector\n"
        "acme_other = acme_plugin_misnamed:AcmeThingsCollector",
    )
    registry.discover(refresh=True)  # lenient: recorded, not raised
    errors = dict(registry.load_errors)
    broken = "pixaudit.collectors:acme_broken = acme_plugin_broken:Collector"
    assert "ImportError: missing sdk extra" in errors[broken]
    misnamed = "pixaudit.collectors:acme_other = acme_plugin_misnamed:AcmeThingsCollector"
    assert "must equal the key 'acme_things'" in errors[misnamed]
    with pytest.raises(RegistryError, match="2 collector\\(s\\) failed to load"):
        registry.discover(strict=True)
    assert registry.get("demo_inventory")  # the built-ins still loaded
