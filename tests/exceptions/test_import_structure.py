"""Posture and the exceptions register import each other in one direction only.

``posture.selectors`` once imported ``exceptions.selectors.accepted_failures`` inside a
function because ``exceptions.selectors`` imports ``posture.selectors`` (the assertion
catalog): a cycle, only hidden. The shared read now lives a layer down, in
``pixaudit/exceptions/acceptances.py`` (register models only). Imports inside functions
count (a deferred import is still a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pixaudit
from tests.reviews.test_import_structure import find_cycle

ROOT = Path(pixaudit.__file__).parent
APPS = ("posture", "exceptions")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    paths = [p for app in APPS for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]
    modules = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if n in modules}
        graph[_module_name(path)] = found - {_module_name(path)}
    return graph


def test_posture_and_exceptions_modules_import_no_circle() -> None:
    graph = _graph()
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
    assert "pixaudit.exceptions.selectors" not in graph["pixaudit.posture.selectors"]
    assert "pixaudit.exceptions.acceptances" in graph["pixaudit.posture.selectors"]
    assert graph["pixaudit.exceptions.acceptances"] == {"pixaudit.exceptions.models"}


def test_the_shared_read_is_the_same_function_everywhere() -> None:
    from pixaudit.awsorg import selectors as awsorg_selectors
    from pixaudit.exceptions import acceptances
    from pixaudit.exceptions import selectors as exceptions_selectors
    from pixaudit.posture import selectors as posture_selectors
    from pixaudit.reports import selectors as report_selectors

    shared = acceptances.accepted_failures
    assert exceptions_selectors.accepted_failures is shared
    assert posture_selectors.accepted_failures is shared
    assert report_selectors.accepted_failures is shared
    assert awsorg_selectors.accepted_failures is shared
