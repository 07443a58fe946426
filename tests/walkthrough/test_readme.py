"""The README documents every management command pixaudit ships (issue 12: a new user found
`report`, `pack`, `verify_pack` and `oscal_export` only through `manage.py help`)."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management import get_commands

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_pixaudit_command_has_a_row_with_an_example():
    table = _section("Management commands")
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `([a-z_]+)` \| (.+) \|$", table, flags=re.M)}
    ours = sorted(name for name, app in get_commands().items() if app.startswith("pixaudit"))
    assert {"report", "pack", "verify_pack", "oscal_export"} <= set(ours)
    missing = [name for name in ours if name not in rows]
    assert not missing, f"README's command table lacks {missing}"
    for name in ours:
        description, example = rows[name].rsplit(" | ", 1)
        assert description.strip() and f"manage.py {name}" in example, name
    for name in ("rqworker", "scheduler", "migrate"):
        assert name in rows, name


def test_readme_says_how_jobs_run_in_the_embedded_default():
    jobs = _section("How jobs run")
    assert "Embedded default" in jobs and "no worker" in jobs
    assert "manage.py run_scheduled" in jobs and "--daily" in jobs
    assert "rqworker default collect reports" in jobs
