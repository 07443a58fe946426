"""Registry-wide conformance: every registered collector lints clean and has its test file.

The Django side adds the catalog check (every control ID exists in a loaded catalog) using
``registry.all_control_ids_used()``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from collectors import Collector, registry
from collectors.lint import lint_collector

TESTS_DIR = Path(__file__).parent
COLLECTORS_DIR = Path(registry.__file__).parent

registry.discover(strict=True)
ALL = registry.all_collectors()
BUILTINS = [cls for cls in ALL if cls.__module__.startswith("collectors.")]


def test_registry_is_not_empty() -> None:
    assert "demo_inventory" in {cls.key for cls in ALL}


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.key)
def test_collector_lints_clean(cls: type[Collector]) -> None:
    assert lint_collector(cls) == []


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: cls.key)
def test_builtin_has_test_module(cls: type[Collector]) -> None:
    expected = TESTS_DIR / cls.source / f"test_{cls.key}.py"
    assert expected.is_file(), f"missing {expected.relative_to(TESTS_DIR.parent.parent)}"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path",
    sorted(COLLECTORS_DIR.rglob("*.py")),
    ids=lambda p: str(p.relative_to(COLLECTORS_DIR)),
)
def test_collectors_package_imports_nothing_from_django_or_pixaudit(path: Path) -> None:
    forbidden = {
        name
        for name in _imported_modules(path)
        if name.split(".")[0] in {"django", "pixaudit", "rest_framework", "django_rq"}
    }
    assert forbidden == set()
