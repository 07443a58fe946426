"""The example plugin package, installed with pip the way a third party's would be.

``examples/pixaudit-example-plugin`` is built into a wheel and ``pip install``-ed, offline,
into a temporary ``--target`` directory that is put on ``sys.path`` (in this process) or on
``PYTHONPATH`` (in subprocesses). The shared virtualenv is never modified, so there is nothing
to uninstall, a crash leaves nothing behind, and concurrent test runs never see the plugin.

The wheel is built by the package's own build backend (setuptools, without build isolation)
when the environment can do that offline: setuptools >= 70.1, or an older setuptools with the
``wheel`` package. A plain ``python3.11 -m venv`` ships setuptools 65.5 without ``wheel``; there
the test writes the same wheel itself from ``pyproject.toml`` (package modules, ``METADATA``,
``entry_points.txt``, ``RECORD``). Either way pip installs it and ``importlib.metadata`` finds
the entry point exactly as in production.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import Collector, Status, registry
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "examples" / "pixaudit-example-plugin"
FIXTURES = PLUGIN_DIR / "tests" / "fixtures" / "backup_report"
DIST_NAME = "pixaudit-example-plugin"
PACKAGE = "pixaudit_example_plugin"
KEY = "example_backup_jobs"
EXPECTED_MAPPINGS = {
    ("example_backup_jobs.encrypted", "iso27001-2022:A.8.24", "plugin"),
    ("example_backup_jobs.encrypted", "soc2-2017:CC6.1", "plugin"),
    ("example_backup_jobs.recent_success", "iso27001-2022:A.8.13", "plugin"),
    ("example_backup_jobs.recent_success", "soc2-2017:A1.2", "plugin"),
    ("example_backup_jobs.retention", "iso27001-2022:A.8.13", "plugin"),
    ("example_backup_jobs.retention", "soc2-2017:A1.2", "plugin"),
}


def _pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def _backend_builds_offline() -> bool:
    """True when setuptools can build a wheel here without downloading anything."""
    try:
        version = _version_tuple(importlib.metadata.version("setuptools"))
    except importlib.metadata.PackageNotFoundError:
        return False
    if version < (61, 0):  # no PEP 621 [project] support
        return False
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def _pip(*args: str) -> str:
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,  # no index-url, --user or proxy from the machine
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    return _run([sys.executable, "-m", "pip", *args], env=env)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _write_wheel(project: Path, out: Path) -> Path:
    """Write the wheel setuptools would build from ``project``, with the standard library."""
    config = _pyproject(project)
    meta = config["project"]
    dist = re.sub(r"[-_.]+", "_", meta["name"]).lower()
    info = f"{dist}-{meta['version']}.dist-info"
    files: dict[str, bytes] = {}
    for package in config["tool"]["setuptools"]["packages"]:
        for path in sorted((project / package.replace(".", "/")).glob("*.py")):
            files[path.relative_to(project).as_posix()] = path.read_bytes()
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
        f"Summary: {meta['description']}\nRequires-Python: {meta['requires-python']}\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pixaudit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in meta.get("entry-points", {}).items()
    ).encode()
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{dist}-{meta['version']}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@dataclass(frozen=True)
class PluginInstall:
    site: Path  # the pip --target directory
    wheel: Path
    built_by: str  # "setuptools" or "test"


@pytest.fixture(scope="module")
def plugin_install(tmp_path_factory: pytest.TempPathFactory) -> PluginInstall:
    """Build the plugin's wheel from a copy of its project and pip-install it, offline."""
    work = tmp_path_factory.mktemp("example-plugin")
    project = work / "project"  # a copy, so no build/ or *.egg-info lands in the source tree
    shutil.copytree(
        PLUGIN_DIR,
        project,
        ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info", "tests"),
    )
    if _backend_builds_offline():
        _pip(
            "wheel", "--no-index", "--no-deps", "--no-build-isolation",
            "--wheel-dir", str(work / "dist"), str(project),
        )  # fmt: skip
        wheel, built_by = next((work / "dist").glob("*.whl")), "setuptools"
    else:
        wheel, built_by = _write_wheel(project, work / "dist"), "test"
    site = work / "site"
    _pip("install", "--no-index", "--no-deps", "--no-compile", "--target", str(site), str(wheel))
    return PluginInstall(site=site, wheel=wheel, built_by=built_by)


def _forget_plugin_modules() -> None:
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def plugin_cls(plugin_install: PluginInstall) -> Iterator[type[Collector]]:
    """The installed plugin on ``sys.path``, discovered through its entry point; then gone."""
    assert registry.ENTRY_POINT_GROUP == "pixaudit.collectors"
    assert KEY not in {cls.key for cls in registry.all_collectors()}
    site = str(plugin_install.site)
    sys.path.insert(0, site)
    try:
        registry.discover(refresh=True, strict=True)
        yield registry.get(KEY)
    finally:
        sys.path.remove(site)
        registry.unregister(KEY)
        _forget_plugin_modules()
        importlib.invalidate_caches()
        registry.discover(refresh=True)
        assert KEY not in {cls.key for cls in registry.all_collectors()}


def test_pip_installed_the_entry_point(plugin_install: PluginInstall) -> None:
    (dist,) = [
        d
        for d in importlib.metadata.distributions(path=[str(plugin_install.site)])
        if d.metadata["Name"] == DIST_NAME
    ]
    assert dist.version == _pyproject(PLUGIN_DIR)["project"]["version"]
    (entry_point,) = dist.entry_points.select(group="pixaudit.collectors")
    assert (entry_point.name, entry_point.value) == (
        KEY,
        "pixaudit_example_plugin.backup_jobs:ExampleBackupJobsCollector",
    )
    assert (dist.read_text("INSTALLER") or "").strip() == "pip"
    assert plugin_install.built_by in {"setuptools", "test"}
    assert (plugin_install.site / PACKAGE / "backup_jobs.py").is_file()
    assert not (plugin_install.site / "tests").exists(), "the plugin's tests must not ship"


def test_discovery_registers_the_installed_plugin(
    plugin_cls: type[Collector], plugin_install: PluginInstall
) -> None:
    assert plugin_cls.key == KEY
    assert plugin_cls.source == "example"
    # Loaded from the installed copy, not from the source tree under examples/.
    assert Path(inspect.getfile(plugin_cls)).is_relative_to(plugin_install.site)
    assert lint_collector(plugin_cls) == []
    assert registry.load_errors == []


def test_the_installed_plugin_runs_like_a_builtin(plugin_cls: type[Collector]) -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            KEY,  # looked up in the registry, as the runner does
            {"report_url": server.url("/api/v1/report"), "api_token": "bk-token-0123456789"},
            now=datetime(2024, 6, 1, 6, 0, tzinfo=UTC),
        )
    assert [row["job_name"] for row in result.rows] == [
        "fileserver",
        "gitlab",
        "ldap",
        "postgres-prod",
    ]
    host = server.base_url.split("//", 1)[1]  # findings name jobs <server>/<job>
    assert result.statuses(f"{KEY}.recent_success") == {
        f"{host}/fileserver": Status.FAIL,
        f"{host}/gitlab": Status.FAIL,
        f"{host}/ldap": Status.ERROR,
        f"{host}/postgres-prod": Status.PASS,
    }
    assert result.statuses(f"{KEY}.encrypted")[f"{host}/fileserver"] is Status.FAIL
    assert {f.assertion_id for f in result.findings} == {a.id for a in plugin_cls.assertions}


def test_findings_map_to_the_declared_controls(plugin_cls: type[Collector], db: None) -> None:
    from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
    from pixaudit.controls.models import CheckMapping, Control
    from pixaudit.controls.services import catalogs_load_builtin

    catalogs_load_builtin()
    known = {c.address for c in Control.objects.filter(assessable=True).select_related("framework")}
    assert lint_collector(plugin_cls, known_controls=known) == []
    check_mappings_sync_from_registry()
    stored = CheckMapping.objects.filter(assertion_id__startswith=f"{KEY}.").select_related(
        "control__framework"
    )
    assert {(m.assertion_id, m.control.address, m.source) for m in stored} == EXPECTED_MAPPINGS
    by_assertion = {a.id: a for a in plugin_cls.assertions}
    assert all(m.rationale == by_assertion[m.assertion_id].rationale for m in stored)
    # Every finding the plugin produces lands on exactly the controls its assertion declares.
    mapped: dict[str, set[str]] = {}
    for m in stored:
        mapped.setdefault(m.assertion_id, set()).add(m.control.address)
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(KEY, {"report_url": server.url("/api/v1/report")})
    assert result.findings
    for finding in result.findings:
        assert mapped[finding.assertion_id] == set(finding.controls), finding


def test_a_fresh_pixaudit_process_lists_the_plugin(
    plugin_install: PluginInstall, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin_install.site), str(REPO_ROOT)]),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PIXAUDIT_VAR_DIR": str(tmp_path / "var"),
    }
    output = _run(
        [
            sys.executable,
            str(REPO_ROOT / "manage.py"),
            "collectors",
            "--source",
            "example",
            "--json",
        ],
        cwd=REPO_ROOT,
        env=env,
    )
    (listed,) = json.loads(output)
    assert listed["key"] == KEY
    assert listed["controls"] == sorted({c for _, c, _ in EXPECTED_MAPPINGS})
    assert [p["name"] for p in listed["params"] if p["secret"]] == ["api_token"]


def test_the_plugin_own_test_suite_passes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO_ROOT)  # the collectors SDK; the plugin comes from its source
    output = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "no:cacheprovider"],
        cwd=PLUGIN_DIR,
        env=env,
    )
    assert " passed" in output
