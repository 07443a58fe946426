"""The import graph of pixaudit apps, and a circle finder, for the import-structure tests.

Every import counts, at module level or inside a function: a deferred import is still a
circle, only hidden. Migrations are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pixaudit

ROOT = Path(pixaudit.__file__).parent


def module_name(path: Path) -> str:
    """``pixaudit/reviews/services/__init__.py`` -> ``pixaudit.reviews.services``."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Which of ``modules`` ``path`` imports anywhere (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {name for name in names if name in modules}
    return found


def import_graph(*apps: str) -> dict[str, set[str]]:
    """Module -> the modules of ``apps`` (e.g. ``"reviews"``) it imports, itself left out."""
    paths = [p for app in apps for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]
    modules = {module_name(p) for p in paths}
    return {module_name(p): _imports(p, modules) - {module_name(p)} for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None
