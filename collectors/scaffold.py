"""Generate a new collector: its module, its test and its recorded API answers.

``manage.py startcollector`` wraps :func:`scaffold_collector` (and regenerates
``docs/collectors.md``). The generated collector is a working HTTP API collector: it reads a
``Link``-paginated JSON list from ``GET {base_url}/api/items`` with a bearer token, and its
test runs it against the recorded answers in ``routes.json`` over HTTPS with a throwaway CA.
Everything generated passes ``ruff check``, ``ruff format --check``, the conformance test and
its own test as written, for any valid source and name; the author then replaces the example
API with the real one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

from collectors.lint import SDK_MODULES

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_SOURCE_LENGTH",
    "ScaffoldError",
    "collector_key",
    "scaffold_collector",
]

_SOURCE_RE = re.compile(r"^[a-z][a-z0-9]*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
#: Keys appear in every finding, URL and log line; short ones also keep the generated code
#: within the line length without rewrapping.
MAX_KEY_LENGTH = 40
MAX_SOURCE_LENGTH = 20
_LINE_LENGTH = 100


class ScaffoldError(ValueError):
    """Invalid source/name, or a target file that already exists."""


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_") if part)


def collector_key(source: str, name: str) -> str:
    """The key ``<source>_<name>`` (a ``name`` that already starts with the source is kept)."""
    return name if name.startswith(source + "_") else f"{source}_{name}"


def _from_import(module: str, name: str) -> str:
    """``from module import name`` as ``ruff format`` writes it (wrapped when too long)."""
    line = f"from {module} import {name}"
    if len(line) <= _LINE_LENGTH:
        return line
    return f"from {module} import (\n    {name},\n)"


def _first_party_imports(lines: dict[str, str]) -> str:
    """The first-party import block, ordered by module as ruff's isort orders it.

    Module names here are lowercase letters, digits, ``_`` and ``.``, and the collector's
    module is compared with ``collectors``' own (``collectors.testing``, ...), so plain
    string order is ruff's order; sorting is what keeps a source such as ``aws`` or ``http``
    (before ``testing``) lint-clean.
    """
    return "\n".join(lines[module] for module in sorted(lines))


_COLLECTOR_TEMPLATE = Template('''\
"""$title."""

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
from collectors.urls import resource_url

ITEMS_PATH = "/api/items"


@register
class $cls(Collector):
    """$title.

    Collected: one row per item from ``GET {base_url}/api/items`` (``Link``-paginated),
    authenticated with a read-only API token sent as ``Authorization: Bearer``. This is the
    scaffold's example API: replace the endpoint, the columns and the assertion with the
    real ones, and list the API scopes the calls need in ``permissions``.

    Example row: item ``alpha``, enabled; it passes the ``enabled`` assertion.
    """

    key = "$key"
    title = "$title"
    version = 1
    params = (
        Param(
            "base_url",
            "string",
            required=True,
            destination=True,
            help="API root, e.g. https://api.example.com",
        ),
        Param("api_token", "string", required=True, secret=True, help="Read-only API token."),
        Param("ca_bundle", "string", help="PEM file of the CAs to trust (default: the system's)."),
    )
    permissions = ("items:read",)
    columns = (
        Column("name", "string", "Unique name of the item."),
        Column("enabled", "boolean", "Whether the item is enabled."),
    )
    resource_column = "name"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per item, sorted by name."""
        base = ctx.params["base_url"].rstrip("/")
        headers = {"Authorization": f"Bearer {ctx.params['api_token']}"}
        ctx.identity = f"{resource_url(base)} (api token)"
        ctx.record_call("items:read")
        rows: list[dict[str, Any]] = []
        for page in ctx.http_pages(base + ITEMS_PATH, headers=headers):
            if not isinstance(page, list):
                raise CollectorError(f"GET {ITEMS_PATH} did not return a list", permanent=True)
            rows.extend(self._row(item) for item in page)
            ctx.progress(len(rows), None, "items")
            ctx.check_budget()
        return sorted(rows, key=lambda row: row["name"])

    @staticmethod
    def _row(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or not item.get("name"):
            raise CollectorError(f"GET {ITEMS_PATH} listed an item without a name", permanent=True)
        return {"name": str(item["name"]), "enabled": item.get("enabled")}

    @assertion(
        "$key.enabled",
        title="Items are enabled",
        severity=Severity.MEDIUM,
        remediation="Enable the item in the service's admin console.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.9"),
        rationale="An item's enabled flag is part of its secure configuration (A.8.9) and "
        "of the logical access security it provides (CC6.1).",
    )
    def enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """Every item must be enabled."""
        if row["enabled"]:
            return Outcome(Status.PASS, f"{row['name']} is enabled.")
        return Outcome(Status.FAIL, f"{row['name']} is not enabled.")
''')

_TEST_TEMPLATE = Template('''\
"""Tests of $key against recorded API answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

$imports

FIXTURES = Path(__file__).parents[1] / "fixtures" / "$key"
ENABLED = "$key.enabled"
TOKEN = "fixture-token"


def _params(server: FixtureServer, prefix: str = "") -> dict[str, Any]:
    """Params for the HTTPS fixture server, which only its throwaway CA vouches for."""
    return {
        "base_url": server.base_url + prefix,
        "api_token": TOKEN,
        "ca_bundle": server.ca_bundle,
    }


def test_items_across_pages() -> None:
    with serve_fixtures(FIXTURES, https=True) as server:
        params = _params(server)
        result = run_collector($cls, params)
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert [row["name"] for row in result.rows] == ["alpha", "beta", "gamma"]
    assert result.statuses(ENABLED) == {
        "alpha": Status.PASS,
        "beta": Status.FAIL,
        "gamma": Status.PASS,
    }


def test_rejected_token_is_a_permanent_error() -> None:
    with serve_fixtures(FIXTURES, https=True) as server:
        params = _params(server, "/expired-token")
        with pytest.raises(CollectorError, match="HTTP 401") as info:
            run_collector($cls, params)
    assert info.value.permanent
''')

#: The recorded answers of the example API (``{base_url}`` is the fixture server's URL).
_ROUTES = {
    "GET /api/items": {
        "headers": {"Link": '<{base_url}/api/items?page=2>; rel="next"'},
        "body": [{"name": "beta", "enabled": False}, {"name": "alpha", "enabled": True}],
    },
    "GET /api/items?page=2": {"body": [{"name": "gamma", "enabled": True}]},
    "GET /expired-token/api/items": {"status": 401, "body": {"message": "invalid token"}},
}


def _check_names(root: Path, source: str, name: str) -> str:
    if not _SOURCE_RE.match(source):
        raise ScaffoldError(f"source {source!r} must match {_SOURCE_RE.pattern}")
    if not _NAME_RE.match(name):
        raise ScaffoldError(f"name {name!r} must match {_NAME_RE.pattern}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ScaffoldError(f"source {source!r} is longer than {MAX_SOURCE_LENGTH} characters")
    taken = root / "collectors" / f"{source}.py"
    if source in SDK_MODULES or taken.exists():
        raise ScaffoldError(
            f"source {source!r} is the name of an SDK module (collectors/{source}.py); "
            "choose another source name"
        )
    key = collector_key(source, name)
    if len(key) > MAX_KEY_LENGTH:
        raise ScaffoldError(
            f"key {key!r} is longer than {MAX_KEY_LENGTH} characters; keys appear in every "
            "finding, so keep them short"
        )
    return key


def scaffold_collector(root: Path, source: str, name: str) -> list[Path]:
    """Write a new collector ``<source>_<name>`` under ``root``; return the files created.

    Creates ``collectors/<source>/<key>.py`` (and ``collectors/<source>/__init__.py`` for a
    new source), ``tests/collectors/<source>/test_<key>.py`` and
    ``tests/collectors/fixtures/<key>/routes.json``. Nothing is written when any of them
    already exists (:class:`ScaffoldError` names it), or when the names are invalid.
    """
    root = Path(root)
    key = _check_names(root, source, name)
    cls = _camel(key) + "Collector"
    title = f"{_camel(source)} {key[len(source) + 1 :].replace('_', ' ')}"
    imports = _first_party_imports(
        {
            "collectors": "from collectors import CollectorError, Status",
            "collectors.testing": (
                "from collectors.testing import FixtureServer, run_collector, serve_fixtures"
            ),
            f"collectors.{source}.{key}": _from_import(f"collectors.{source}.{key}", cls),
        }
    )
    values = {"key": key, "cls": cls, "source": source, "title": title, "imports": imports}
    package_init = root / "collectors" / source / "__init__.py"
    files = {
        root / "collectors" / source / f"{key}.py": _COLLECTOR_TEMPLATE.substitute(values),
        root / "tests" / "collectors" / source / f"test_{key}.py": _TEST_TEMPLATE.substitute(
            values
        ),
        root / "tests" / "collectors" / "fixtures" / key / "routes.json": (
            json.dumps(_ROUTES, indent=2) + "\n"
        ),
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
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": never clobber a racing writer
            handle.write(text)
        created.append(path)
    return created
