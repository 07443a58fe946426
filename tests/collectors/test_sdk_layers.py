"""The collector SDK is layered: no module of the ``collectors`` package imports itself back.

Imports are read from the source (module level and ``if TYPE_CHECKING:`` blocks, which tools
and readers follow just the same; imports inside functions are deliberate late bindings and
are left out). Shared names live in the lowest layer that needs them: ``collectors.errors``
(``CollectorError``, ``ParamError``) and ``collectors.redaction`` (``REDACTED``), which import
nothing from the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import collectors

PACKAGE_DIR = Path(collectors.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports outside function bodies (module level, class bodies, if/try blocks)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            stack.append(child)
    return found


def import_graph() -> dict[str, set[str]]:
    """``{module: {collectors modules it imports}}`` for every module of the package."""
    modules = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in _top_level_imports(tree):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
                continue
            if node.level:
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            if base in modules:
                targets.add(base)
            targets.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
        graph[name] = targets - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's smallest representative, found by depth-first search."""
    cycles: set[tuple[str, ...]] = set()

    def visit(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                cycles.add(tuple(path))
            elif nxt not in path and nxt > start:
                visit(start, nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, start, [start])
    return [list(c) for c in sorted(cycles)]


def test_the_collectors_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "collectors.context" in graph and "collectors._http" in graph
    assert find_cycles(graph) == []


def test_errors_and_redaction_are_the_bottom_layer() -> None:
    graph = import_graph()
    assert graph["collectors.errors"] == set()
    assert graph["collectors.redaction"] == set()
    assert "collectors.base" not in graph["collectors._http"]
    assert "collectors.base" not in graph["collectors.context"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
