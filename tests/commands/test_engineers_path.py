"""The engineer's path, walked as a new engineer walks it, in a copy of the project.

- Three collectors scaffolded with ``manage.py startcollector`` pass ``make lint``, their own
  tests, the conformance tests and the generated-docs check as generated, without edits.
- ``docs/writing-a-collector.md``'s walkthrough runs as written: each file it shows is
  written, each ``$`` command of its console blocks is run in order, and each output line it
  shows must appear (``...`` stands for anything). Then the files that changed are exactly the
  ones the guide says a collector's commit holds.

The copy shares the project's virtualenv through a ``.venv`` symlink; ``make`` runs with
``-o install`` so that a test never pip-installs into it. Commands run on the embedded
default (SQLite under a temporary ``PIXAUDIT_VAR_DIR``), never on the suite's databases.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "writing-a-collector.md"
_NOT_COPIED = {
    ".git",
    ".venv",
    "var",
    "__pycache__",
    ".ruff_cache",
    ".pytest_cache",
    "node_modules",
    "params.json",
}


def _copy_project(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=lambda _dir, names: [n for n in names if n in _NOT_COPIED])
    (dest / ".venv").symlink_to((ROOT / ".venv").resolve(), target_is_directory=True)
    return dest


def _env(tmp_path: Path) -> dict[str, str]:
    """A new engineer's shell: development settings, SQLite in a fresh var directory."""
    dropped = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PIXAUDIT_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PIXAUDIT_VAR_DIR"] = str(tmp_path / "var")
    return env


def _shell(command: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if command.startswith("make "):
        command = "make -o install " + command[len("make ") :]
    return subprocess.run(
        ["bash", "-c", command],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_scaffolded_collectors_pass_lint_conformance_and_docs_check_as_generated(tmp_path):
    root = _copy_project(tmp_path / "pixaudit")
    env = _env(tmp_path)
    keys = []
    for source, name in (("aws", "widgets"), ("http", "security_headers"), ("zeta", "things")):
        result = _shell(f".venv/bin/python manage.py startcollector {source} {name}", root, env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "updated docs/collectors.md" in result.stdout
        keys.append(f"{source}_{name}")
    lint = _shell("make lint", root, env)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    tests = [f"tests/collectors/{key.split('_')[0]}/test_{key}.py" for key in keys]
    checks = (
        "tests/collectors/test_conformance.py tests/controls/test_collector_mappings.py "
        "tests/commands/test_collect_cli.py::test_docs_collectors_md_is_up_to_date"
    )
    result = _shell(f".venv/bin/python -m pytest -v {' '.join(tests)} {checks}", root, env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    for key in keys:
        assert f"test_collector_lints_clean[{key}] PASSED" in result.stdout
        assert f"test_builtin_has_test_module[{key}] PASSED" in result.stdout
        assert f"## {key}" in (root / "docs" / "collectors.md").read_text()
    assert "test_docs_collectors_md_is_up_to_date PASSED" in result.stdout


# -- the guide, run as written ------------------------------------------------------------------

_FENCE = re.compile(r"^```(\w*)$")
_FILE_LABEL = re.compile(r"^`([^`\s]+)`:$")


def guide_steps(text: str) -> list[tuple[str, str, list[str]]]:
    """The walkthrough's steps in order: ``("file", path, lines)`` for a block introduced by a
    `` `path`: `` line, and ``("run", command, expected output lines)`` for each ``$`` line of
    a ``console`` block."""
    start = text.index("\n## Walkthrough")
    end = text.index("\n## ", start + 1)
    lines = text[start:end].splitlines()
    steps: list[tuple[str, str, list[str]]] = []
    index, previous = 0, ""
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        body: list[str] = []
        index += 1
        while lines[index] != "```":
            body.append(lines[index])
            index += 1
        index += 1
        label = _FILE_LABEL.match(previous)
        if fence.group(1) == "console":
            for line in body:
                if line.startswith("$ "):
                    steps.append(("run", line[2:], []))
                elif steps and steps[-1][0] == "run":
                    steps[-1][2].append(line)
        elif label:
            steps.append(("file", label.group(1), body))
        previous = ""
    return steps


def _shown_lines_appear(expected: list[str], output: str) -> list[str]:
    """The expected lines (``...`` is a wildcard) that no output line contains."""
    missing = []
    for line in expected:
        if not line.strip() or line.strip() == "...":
            continue
        pattern = ".*".join(re.escape(part) for part in line.split("..."))
        if not any(re.search(pattern, out) for out in output.splitlines()):
            missing.append(line)
    return missing


class _Background:
    """A ``cmd &`` of the guide: started, read until it says it is ready, stopped by ``kill``."""

    def __init__(self, command: str, root: Path, env: dict[str, str]):
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                self.ready.set()
        self.ready.set()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def _changed_files(original: Path, copy: Path) -> set[str]:
    """Files of ``copy`` that are new or differ from ``original`` (caches and venv aside)."""
    changed = set()
    for path in copy.rglob("*"):
        rel = path.relative_to(copy)
        if rel.parts[0] == ".venv" or set(rel.parts) & _NOT_COPIED or not path.is_file():
            continue
        source = original / rel
        if not source.is_file() or not filecmp.cmp(source, path, shallow=False):
            changed.add(str(rel))
    return changed


def test_the_guide_runs_as_written(tmp_path):
    root = _copy_project(tmp_path / "pixaudit")
    env = _env(tmp_path)
    steps = guide_steps(GUIDE.read_text(encoding="utf-8"))
    written = [target for kind, target, _ in steps if kind == "file"]
    assert written == [
        "tests/collectors/fixtures/helpdesk_agents/routes.json",
        "collectors/helpdesk/helpdesk_agents.py",
        "tests/collectors/helpdesk/test_helpdesk_agents.py",
    ]
    commands = [target for kind, target, _ in steps if kind == "run"]
    assert any("startcollector" in c for c in commands) and "make docs" in commands
    assert any(c.startswith(".venv/bin/python manage.py collect ") for c in commands)
    background: list[_Background] = []
    try:
        for kind, target, lines in steps:
            if kind == "file":
                (root / target).write_text("\n".join(lines) + "\n", encoding="utf-8")
                continue
            if target.endswith(" &"):
                job = _Background(target[:-2], root, env)
                background.append(job)
                assert job.ready.wait(timeout=60), "the background command never got ready"
                output, returncode = "\n".join(job.lines), 0
            elif target == "kill %1":
                output, returncode = "", background[0].stop()
            else:
                result = _shell(target, root, env)
                output, returncode = result.stdout + result.stderr, result.returncode
            assert returncode == 0, f"$ {target}\n{output[-6000:]}"
            missing = _shown_lines_appear(lines, output)
            assert missing == [], f"$ {target}: shown but not printed: {missing}\n{output[-6000:]}"
    finally:
        for job in background:
            job.stop()
    assert _changed_files(ROOT, root) == {
        "collectors/helpdesk/__init__.py",
        "collectors/helpdesk/helpdesk_agents.py",
        "tests/collectors/helpdesk/test_helpdesk_agents.py",
        "tests/collectors/fixtures/helpdesk_agents/routes.json",
        "docs/collectors.md",
    }


def test_guide_parser_reads_files_commands_and_their_output() -> None:
    text = "\n".join(
        [
            "intro",
            "## Walkthrough: x",
            "`a/b.py`:",
            "",
            "```python",
            "print(1)",
            "```",
            "```console",
            "$ echo hi",
            "hi",
            "$ true",
            "```",
            "## Next",
            "```console",
            "$ not-run",
            "```",
        ]
    )
    assert guide_steps(text) == [
        ("file", "a/b.py", ["print(1)"]),
        ("run", "echo hi", ["hi"]),
        ("run", "true", []),
    ]
    assert (
        _shown_lines_appear(["wrote .../x.md (... items)", "..."], "wrote /t/x.md (3 items)") == []
    )
    assert _shown_lines_appear(["4 passed"], "3 passed in 1s") == ["4 passed"]
