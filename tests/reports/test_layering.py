"""The reports app's modules import in one direction: jobs → services → the rest, never back.

Imports inside functions count too (a deferred import is still a cycle, only hidden).
"""

from __future__ import annotations

import ast
from pathlib import Path

from rq.utils import import_attribute

from pixaudit.reports import jobs, services

APP = Path(services.__file__).resolve().parent
PACKAGE = "pixaudit.reports"


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join((PACKAGE, *parts))


def _imports(path: Path) -> set[str]:
    """Every pixaudit.reports module ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith(PACKAGE + "."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in APP.rglob("*.py") if "migrations" not in p.parts}
    return {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}


def test_services_never_import_jobs():
    graph = _graph()
    assert f"{PACKAGE}.jobs" not in graph[f"{PACKAGE}.services"]
    assert f"{PACKAGE}.services" in graph[f"{PACKAGE}.jobs"]
    # The job is enqueued by its dotted path, which must name the job function.
    assert import_attribute(services.REPORT_RENDER_JOB) is jobs.report_render


def test_no_import_cycle_in_the_reports_app():
    graph = _graph()
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
