"""Generate the three files of a new collector: its module, its test and its fixture folder.

``manage.py startcollector`` wraps :func:`scaffold_collector`. The generated collector is a
working, lint-clean minimal collector (it reports the ``items`` JSON param as rows) whose
generated test passes; the author then replaces ``collect`` with real API calls.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ScaffoldError", "scaffold_collector"]

_SOURCE_RE = re.compile(r"^[a-z][a-z0-9]*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class ScaffoldError(ValueError):
    """Invalid source/name, or a target file that already exists."""


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_") if part)


_COLLECTOR_TEMPLATE = '''\
"""{title}."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)


@register
class {cls}(Collector):
    """{title}.

    Collected: one row per item of the ``items`` param (a JSON list of objects with ``name``
    and ``enabled``). Replace ``collect`` with the real API calls, list the API actions it
    needs in ``permissions``, and describe one example row here in words.

    Example row: ``example``, enabled.
    """

    key = "{key}"
    title = "{title}"
    version = 1
    params = (
        Param("items", "json", help="JSON list of {{name, enabled}} objects to report."),
    )
    permissions = ("{source}:ListItems",)
    columns = (
        Column("name", "string", "Unique name of the item."),
        Column("enabled", "boolean", "Whether the item is enabled."),
    )
    resource_column = "name"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per item, sorted by name."""
        ctx.record_call("{source}:ListItems")
        items = ctx.params.get("items") or []
        if not isinstance(items, list):
            raise CollectorError("items must be a JSON list", permanent=True)
        rows = [{{"name": str(i["name"]), "enabled": i.get("enabled")}} for i in items]
        return sorted(rows, key=lambda row: row["name"])

    @assertion(
        "{key}.enabled",
        title="Items are enabled",
        severity=Severity.MEDIUM,
        remediation="Enable the item.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.9"),
        rationale="Replace with why this check supports these controls.",
    )
    def enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """Every item must be enabled."""
        if row["enabled"]:
            return Outcome(Status.PASS, f"{{row['name']}} is enabled.")
        return Outcome(Status.FAIL, f"{{row['name']}} is not enabled.")
'''

_TEST_TEMPLATE = '''\
"""Tests of the {key} collector."""

from __future__ import annotations

from collectors import Status
from collectors.lint import lint_collector
from collectors.testing import run_collector
from collectors.{source}.{key} import {cls}


def test_collector_is_conformant() -> None:
    assert lint_collector({cls}) == []


def test_disabled_item_fails() -> None:
    result = run_collector(
        {cls},
        {{"items": [{{"name": "b", "enabled": False}}, {{"name": "a", "enabled": True}}]}},
    )
    assert [row["name"] for row in result.rows] == ["a", "b"]
    assert result.statuses("{key}.enabled") == {{"a": Status.PASS, "b": Status.FAIL}}


def test_no_items_yields_no_findings() -> None:
    result = run_collector({cls}, {{}})
    assert result.rows == []
    assert result.findings == []
'''

_README_TEMPLATE = """\
# Fixtures for `{key}`

Recorded, scrubbed API responses used by `tests/collectors/{source}/test_{key}.py`.

- HTTP APIs: a `routes.json` for `collectors.testing.serve_fixtures` (see its docstring),
  plus the body files it names. Write `{{base_url}}` where the server's URL belongs.
- Name variants `<endpoint>__<variant>.json`.
- Scrub tokens, e-mail addresses and other personal data before committing.
- AWS collectors tested with moto need no fixtures.
"""


def scaffold_collector(root: Path, source: str, name: str) -> list[Path]:
    """Write a new collector ``<source>_<name>`` under ``root``; return the files created.

    Creates ``collectors/<source>/<source>_<name>.py`` (and ``collectors/<source>/__init__.py``
    when missing), ``tests/collectors/<source>/test_<source>_<name>.py`` and
    ``tests/collectors/fixtures/<source>_<name>/README.md``. Nothing is written when any of
    them already exists (:class:`ScaffoldError` names it).
    """
    if not _SOURCE_RE.match(source):
        raise ScaffoldError(f"source {source!r} must match {_SOURCE_RE.pattern}")
    if not _NAME_RE.match(name):
        raise ScaffoldError(f"name {name!r} must match {_NAME_RE.pattern}")
    if name.startswith(source + "_"):
        name = name[len(source) + 1 :]
    key = f"{source}_{name}"
    root = Path(root)
    cls = _camel(key) + "Collector"
    title = f"{_camel(source)} {name.replace('_', ' ')}"
    package_init = root / "collectors" / source / "__init__.py"
    files = {
        root / "collectors" / source / f"{key}.py": _COLLECTOR_TEMPLATE,
        root / "tests" / "collectors" / source / f"test_{key}.py": _TEST_TEMPLATE,
        root / "tests" / "collectors" / "fixtures" / key / "README.md": _README_TEMPLATE,
    }
    existing = [path for path in files if path.exists()]
    if existing:
        listed = ", ".join(str(p) for p in existing)
        raise ScaffoldError(f"refusing to overwrite existing file(s): {listed}")
    created: list[Path] = []
    if not package_init.exists():
        package_init.parent.mkdir(parents=True, exist_ok=True)
        package_init.write_text(f'"""Collectors of the {source} source."""\n', encoding="utf-8")
        created.append(package_init)
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = template.format(key=key, cls=cls, source=source, title=title)
        with path.open("x", encoding="utf-8") as handle:  # "x": never clobber a racing writer
            handle.write(text)
        created.append(path)
    return created
