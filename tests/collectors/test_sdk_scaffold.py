"""scaffold_collector: generates a working, lint-clean collector and a passing test."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import collectors
from collectors import registry
from collectors.lint import lint_collector
from collectors.scaffold import ScaffoldError, scaffold_collector


@pytest.fixture
def generated_root(tmp_path: Path, clean_registry: None) -> Iterator[Path]:
    """Make modules generated under ``tmp_path/collectors`` importable as ``collectors.*``."""
    extra = str(tmp_path / "collectors")
    collectors.__path__.append(extra)
    try:
        yield tmp_path
    finally:
        collectors.__path__.remove(extra)
        for name in [m for m in sys.modules if m.startswith("collectors.zzscaf")]:
            del sys.modules[name]


def test_scaffold_generates_working_collector(generated_root: Path) -> None:
    created = scaffold_collector(generated_root, "zzscaf", "widgets")
    rel = sorted(str(p.relative_to(generated_root)) for p in created)
    assert rel == [
        "collectors/zzscaf/__init__.py",
        "collectors/zzscaf/zzscaf_widgets.py",
        "tests/collectors/fixtures/zzscaf_widgets/README.md",
        "tests/collectors/zzscaf/test_zzscaf_widgets.py",
    ]
    module = importlib.import_module("collectors.zzscaf.zzscaf_widgets")
    cls = module.ZzscafWidgetsCollector
    assert registry.get("zzscaf_widgets") is cls
    assert lint_collector(cls) == []

    test_path = generated_root / "tests/collectors/zzscaf/test_zzscaf_widgets.py"
    spec = importlib.util.spec_from_file_location("generated_scaffold_test", test_path)
    assert spec is not None and spec.loader is not None
    test_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_module)
    test_names = [n for n in dir(test_module) if n.startswith("test_")]
    assert len(test_names) == 3
    for name in test_names:
        getattr(test_module, name)()  # each generated test passes


def test_scaffold_keeps_existing_package_and_strips_source_prefix(generated_root: Path) -> None:
    scaffold_collector(generated_root, "zzscaf", "one")
    created = scaffold_collector(generated_root, "zzscaf", "zzscaf_two")
    assert [p.name for p in created] == ["zzscaf_two.py", "test_zzscaf_two.py", "README.md"]


def test_scaffold_refuses_to_overwrite(generated_root: Path) -> None:
    scaffold_collector(generated_root, "zzscaf", "widgets")
    target = generated_root / "collectors/zzscaf/zzscaf_widgets.py"
    target.write_text("# edited by hand\n")
    with pytest.raises(ScaffoldError, match="refusing to overwrite.*zzscaf_widgets.py"):
        scaffold_collector(generated_root, "zzscaf", "widgets")
    assert target.read_text() == "# edited by hand\n"


@pytest.mark.parametrize(("source", "name"), [("AWS", "x"), ("aws-x", "y"), ("aws", "Bad Name")])
def test_scaffold_rejects_bad_names(tmp_path: Path, source: str, name: str) -> None:
    with pytest.raises(ScaffoldError):
        scaffold_collector(tmp_path, source, name)
    assert not any(tmp_path.iterdir())
