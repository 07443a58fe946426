"""docs/architecture.md describes what is built (issue 12: it listed an `api/` app)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_packages() -> set[str]:
    doc = (ROOT / "docs/architecture.md").read_text()
    block = doc[doc.index("## Layout") :]
    block = block[block.index("```") + 3 :]
    block = block[: block.index("```")]
    inside = block[block.index("pixaudit/") : block.index("\ncollectors/")]
    return set(re.findall(r"^  ([a-z_]+)/", inside, flags=re.M))


def test_the_layout_lists_exactly_the_packages_that_exist():
    listed = _layout_packages()
    built = {p.parent.name for p in (ROOT / "pixaudit").glob("*/__init__.py")}
    assert listed - built == set(), f"documented but not built: {sorted(listed - built)}"
    assert built - listed == set(), f"built but not documented: {sorted(built - listed)}"


def test_planned_things_are_marked_as_planned():
    doc = (ROOT / "docs/architecture.md").read_text()
    planned = doc.split("Planned, not built:", 1)[1].split("\n\n", 1)[0]
    assert "retention command" in planned
    assert "`api/`" not in planned  # built (issue 16): listed in the layout instead
    retention = re.search(r"Retention is a policy[^.]*\.[^.]*\.", doc)
    assert retention and "planned" in retention[0], retention
