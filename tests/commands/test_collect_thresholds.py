"""``collect --thresholds``: a typo is an error naming the bad key and the valid ones (13.9).

Before, ``{"demo_inventry.key_rotation": {...}}`` was silently dropped (it did not start with
the key of a collector being run) and the run used the defaults, exit status 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from pixaudit.evidence.models import CollectionRun, Finding

ROOT = Path(__file__).resolve().parents[2]
ROTATION = "demo_inventory.key_rotation"
pytestmark = pytest.mark.django_db


def _collect(tmp_path: Path, thresholds: object, *keys: str) -> CommandError:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(thresholds))
    with pytest.raises(CommandError) as info:
        call_command("collect", *(keys or ("demo_inventory",)), "--thresholds", str(path))
    assert info.value.returncode == 2  # a usage error, like argparse's
    assert not CollectionRun.objects.exists()  # nothing ran with the defaults
    return info.value


def test_a_typo_in_an_assertion_id_is_refused_with_the_valid_ids(tmp_path):
    error = str(_collect(tmp_path, {"demo_inventory.key_rotaton": {"max_days": 5}}))
    assert "unknown assertion 'demo_inventory.key_rotaton'" in error
    assert f"did you mean '{ROTATION}'" in error
    assert "demo_inventory.encryption_at_rest" in error and ROTATION in error  # valid ones


def test_an_assertion_of_a_collector_not_run_is_refused(tmp_path):
    error = str(_collect(tmp_path, {"aws_iam_users.access_key_age": {"max_days": 5}}))
    assert "'aws_iam_users.access_key_age' is an assertion of aws_iam_users" in error
    assert "not being run" in error


def test_an_unknown_threshold_name_is_refused_with_the_valid_names(tmp_path):
    error = str(_collect(tmp_path, {ROTATION: {"max_dayz": 5}}))
    assert f"{ROTATION}.max_dayz: Unknown threshold 'max_dayz' of {ROTATION}" in error
    assert "(valid: max_days)" in error


def test_a_threshold_of_an_assertion_without_thresholds_is_refused(tmp_path):
    error = str(_collect(tmp_path, {"demo_inventory.mfa_enabled": {"strict": True}}))
    assert "valid: none: it takes no thresholds" in error


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({ROTATION: {"max_days": "soon"}}, "max_days: 'soon' is not a whole number"),
        ({ROTATION: 5}, f"Give the thresholds of {ROTATION} as an object"),
    ],
)
def test_invalid_values_are_refused(tmp_path, thresholds, message):
    assert message in str(_collect(tmp_path, thresholds))


def test_valid_thresholds_apply(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({ROTATION: {"max_days": 5000}}))
    call_command("collect", "demo_inventory", "--thresholds", str(path))
    findings = Finding.objects.filter(assertion_id=ROTATION)
    assert findings and {f.thresholds["max_days"] for f in findings} == {5000}


def test_the_exit_status_is_2_from_a_shell(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"fault_prob.ok": {"fail": True}}))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="pixaudit.settings", PIXAUDIT_VAR_DIR=str(tmp_path / "v"))
    result = subprocess.run(
        [sys.executable, "manage.py", "collect", "demo_inventory", "--no-store",
         "--thresholds", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "unknown assertion 'fault_prob.ok'" in result.stderr
