"""scaffold_collector: generates a working, lint-clean collector and a passing test.

The end-to-end proof (scaffold in a copy of the project, then ruff, the conformance tests and
the generated-docs check in a subprocess) is ``tests/commands/test_engineers_path.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import collectors
from collectors import registry
from collectors.lint import lint_collector
from collectors.scaffold import MAX_KEY_LENGTH, ScaffoldError, scaffold_collector

ROOT = Path(__file__).resolve().parents[2]


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
        "tests/collectors/fixtures/zzscaf_widgets/routes.json",
        "tests/collectors/zzscaf/test_zzscaf_widgets.py",
    ]
    routes = json.loads((generated_root / rel[2]).read_text())
    assert set(routes) == {
        "GET /api/items",
        "GET /api/items?page=2",
        "GET /expired-token/api/items",
    }
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
    assert len(test_names) == 2
    for name in test_names:
        getattr(test_module, name)()  # each generated test passes


def test_scaffold_keeps_existing_package_and_strips_source_prefix(generated_root: Path) -> None:
    scaffold_collector(generated_root, "zzscaf", "one")
    created = scaffold_collector(generated_root, "zzscaf", "zzscaf_two")
    assert [p.name for p in created] == ["zzscaf_two.py", "test_zzscaf_two.py", "routes.json"]


def test_scaffold_refuses_to_overwrite(generated_root: Path) -> None:
    scaffold_collector(generated_root, "zzscaf", "widgets")
    target = generated_root / "collectors/zzscaf/zzscaf_widgets.py"
    target.write_text("# edited by hand\n")
    with pytest.raises(ScaffoldError, match="refusing to overwrite.*zzscaf_widgets.py"):
        scaffold_collector(generated_root, "zzscaf", "widgets")
    assert target.read_text() == "# edited by hand\n"


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("AWS", "x", "must match"),
        ("aws-x", "y", "must match"),
        ("aws", "Bad Name", "must match"),
        ("testing", "things", "name of an SDK module"),
        ("errors", "things", "name of an SDK module"),
        ("s" * 21, "x", "longer than 20 characters"),
        ("zeta", "n" * 36, f"longer than {MAX_KEY_LENGTH} characters"),
    ],
)
def test_scaffold_rejects_bad_names(tmp_path: Path, source: str, name: str, message: str) -> None:
    with pytest.raises(ScaffoldError, match=message):
        scaffold_collector(tmp_path, source, name)
    assert not any(tmp_path.iterdir())


def test_scaffold_refuses_a_source_named_like_a_module_of_the_tree(tmp_path: Path) -> None:
    (tmp_path / "collectors").mkdir()
    (tmp_path / "collectors" / "helpers.py").write_text("")
    with pytest.raises(ScaffoldError, match="collectors/helpers.py"):
        scaffold_collector(tmp_path, "helpers", "things")


# Sources before and after "testing" (the import-order trap), digits, prefixes of SDK module
# names, and the longest source and key the scaffold accepts.
RUFF_NAMES = [
    ("aws", "widgets"),
    ("http", "security_headers"),
    ("zeta", "things"),
    ("test", "a"),
    ("testing2", "b"),
    ("t2", "c"),
    ("lint1", "d"),
    ("a", "b" * 38),
    ("s" * 20, "n" * 19),
]


def test_scaffold_output_passes_ruff_for_any_source_name(tmp_path: Path) -> None:
    # ruff tells first-party imports apart by finding the modules, so the SDK must be there.
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "collectors", tmp_path / "collectors", ignore=_only_sdk)
    for source, name in RUFF_NAMES:
        scaffold_collector(tmp_path, source, name)
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _only_sdk(directory: str, names: list[str]) -> list[str]:
    """copytree filter: the SDK's top-level modules, no built-in collectors or caches."""
    return [n for n in names if not n.endswith(".py") or Path(directory, n).is_dir()]
