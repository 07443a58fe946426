"""``manage.py collect``, ``collectors`` and ``startcollector`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from collectors import registry
from collectors.lint import lint_collector
from pixaudit.evidence.models import CollectionRun, EvidenceItem

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_collect_stores_evidence_writes_findings_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "findings.jsonl"
    call_command("collect", "demo_inventory", "--findings-out", str(out))
    printed = capsys.readouterr().out
    assert "demo_inventory: 6 rows" in printed
    assert "demo_inventory.encryption_at_rest" in printed  # the summary table
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == CollectionRun.objects.get().findings_total
    required = {"assertion", "resource", "status", "severity", "message", "controls"}
    assert all(required | {"collected_at"} <= set(line) for line in lines)
    assert {"pass", "fail"} <= {line["status"] for line in lines}
    assert EvidenceItem.objects.count() == 1


def test_collect_no_store_evaluates_without_evidence(capsys):
    call_command("collect", "demo_inventory", "--no-store")
    assert "findings" in capsys.readouterr().out
    assert EvidenceItem.objects.count() == 0


def test_collect_params_file_shared_or_per_collector(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"demo_inventory": {"resources": [{"name": "only-one"}]}}))
    call_command("collect", "demo_inventory", "--params", str(params))
    assert CollectionRun.objects.get().rows_count == 1
    params.write_text(json.dumps({"resources": [{"name": "a"}, {"name": "b"}]}))
    call_command("collect", "demo_inventory", "--params", str(params))
    assert CollectionRun.objects.order_by("-pk").first().rows_count == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name collector KEYs"),
        (("no_such_collector",), "unknown collector(s): no_such_collector"),
        (("--source", "nowhere"), "no collector has source 'nowhere'"),
        (("--connection", "missing"), "no connection named 'missing'"),
        (("demo_inventory", "--params", "/nonexistent.json"), "no such file"),
    ],
)
def test_collect_usage_errors_are_clear(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("collect", *args)


def test_collect_malformed_params_file_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"resources": [\n  {"name": "x",}\n]}')
    with pytest.raises(CommandError, match=r"not valid JSON \(line 2"):
        call_command("collect", "demo_inventory", "--params", str(bad))


def test_collect_exit_status_is_nonzero_when_a_collection_cannot_run(tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"simulate_error": "permanent"}))
    result = subprocess.run(
        [sys.executable, "manage.py", "collect", "demo_inventory", "--params", str(params)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**_subprocess_env(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "FAILED: simulated permanent failure" in result.stderr


def test_collect_exit_status_is_zero_when_findings_fail(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "collect", "demo_inventory"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=_subprocess_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "fail" in result.stdout


def _subprocess_env(tmp_path: Path) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="pixaudit.settings", PIXAUDIT_VAR_DIR=str(tmp_path / "v"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True,
        timeout=300,
    )  # fmt: skip
    return env


def test_collectors_lists_every_registered_collector(capsys):
    call_command("collectors")
    out = capsys.readouterr().out
    registry.discover()
    for cls in registry.all_collectors():
        assert cls.key in out


def test_collectors_doc_writes_markdown_from_declarations(tmp_path, capsys):
    from pixaudit.evidence.collector_docs import builtin_collectors

    path = tmp_path / "collectors.md"
    call_command("collectors", "--doc", str(path))
    text = path.read_text()
    for cls in builtin_collectors():
        assert f"## {cls.key}" in text
        for a in cls.assertions:
            assert f"| [`{a.id}`](#{cls.key}) |" in text  # the assertion index
            assert f"- `{a.id}`: {a.rationale}" in text  # why it maps to its controls


def test_collectors_search_finds_the_assertion_that_already_checks_it(capsys):
    call_command("collectors", "--search", "hsts")
    out = capsys.readouterr().out
    assert out.startswith("tls_endpoints.hsts  HTTPS endpoints send Strict-Transport-Security")
    assert "threshold: min_max_age=15768000 (Minimum max-age (seconds).)" in out
    assert "why: HSTS stops browsers" in out
    call_command("collectors", "--search", "mfa_delete")
    out = capsys.readouterr().out
    assert out.startswith("aws_s3_buckets  AWS S3 buckets\n  columns: mfa_delete\n")
    call_command("collectors", "--search", "no-such-thing-anywhere")
    assert capsys.readouterr().out == "nothing matches 'no-such-thing-anywhere'\n"
    with pytest.raises(CommandError, match="at least one word"):
        call_command("collectors", "--search", "  ")


def test_startcollector_scaffold_is_conformant_and_its_test_passes(tmp_path, capsys):
    call_command("startcollector", "jira", "projects", "--root", str(tmp_path))
    module = tmp_path / "collectors" / "jira" / "jira_projects.py"
    test = tmp_path / "tests" / "collectors" / "jira" / "test_jira_projects.py"
    routes = tmp_path / "tests" / "collectors" / "fixtures" / "jira_projects" / "routes.json"
    assert module.exists() and test.exists() and routes.exists()
    out = capsys.readouterr().out
    assert (
        "collectors.md not regenerated: --root is not this checkout (run `make docs` there)" in out
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("scaffolded_jira_projects", module)
        mod = importlib.util.module_from_spec(spec)
        with registry.temporarily():
            spec.loader.exec_module(mod)
            cls = registry.get("jira_projects")
            assert lint_collector(cls) == []
            registry.unregister("jira_projects")
    finally:
        sys.path.remove(str(tmp_path))
    with pytest.raises(CommandError, match="refusing to overwrite"):
        call_command("startcollector", "jira", "projects", "--root", str(tmp_path))


def test_collect_on_a_fresh_clone_without_migrate_says_what_to_run(tmp_path):
    """Every run is recorded, even with --no-store: say `migrate`, do not crash."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="pixaudit.settings", PIXAUDIT_VAR_DIR=str(tmp_path / "v"))
    result = subprocess.run(
        [sys.executable, "manage.py", "collect", "demo_inventory", "--no-store"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "the database is not ready" in result.stderr
    assert "run `.venv/bin/python manage.py migrate` first" in result.stderr


def test_iam_policy_covers_every_permission_aws_collectors_declare(capsys):
    call_command("collectors", "--iam-policy", "aws")
    policy = json.loads(capsys.readouterr().out)
    assert policy["Version"] == "2012-10-17"
    granted = {a for st in policy["Statement"] for a in st["Action"]}
    assert all(st["Effect"] == "Allow" for st in policy["Statement"])
    registry.discover()
    declared = {p for c in registry.all_collectors() if c.source == "aws" for p in c.permissions}
    assert declared and granted == declared
    # Least privilege: no wildcards in actions.
    assert not any("*" in action for action in granted)


def test_docs_collectors_md_is_up_to_date():
    """docs/collectors.md is generated: regenerate it with `make docs`."""
    from pixaudit.evidence.collector_docs import builtin_collectors, collectors_markdown

    expected = collectors_markdown(builtin_collectors())
    current = (ROOT / "docs" / "collectors.md").read_text()
    assert current == expected, "docs/collectors.md is out of date: run `make docs`"
