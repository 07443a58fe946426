"""Start-up configuration: production checks and clear errors for malformed settings.

Each case starts a fresh interpreter, because settings are read once per process.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAUDIT_", "DJANGO_"))}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    base.update({"PIXAUDIT_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "pixaudit.settings"})
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.smoke
def test_production_settings_pass_check_deploy(tmp_path):
    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PIXAUDIT_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="audit.example.com",
        DATABASE_URL="postgres://pixaudit:secret@db.internal:5432/pixaudit",
        PIXAUDIT_FIELD_KEYS=base64.b64encode(os.urandom(32)).decode(),
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PIXAUDIT_ENV": "production", "ALLOWED_HOSTS": "x.example"}, "SECRET_KEY must be set"),
        (
            {"PIXAUDIT_ENV": "production", "SECRET_KEY": "k" * 60},
            "ALLOWED_HOSTS must list",
        ),
        ({"PIXAUDIT_ENV": "staging"}, "PIXAUDIT_ENV='staging' must be one of"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"SESSION_COOKIE_AGE": "soon"}, "SESSION_COOKIE_AGE='soon' is not a whole number"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE='/nonexistent/secret'"),
        ({"PIXAUDIT_AWS_CONCURRENCY": "0"}, "PIXAUDIT_AWS_CONCURRENCY"),
        ({"PIXAUDIT_AWS_API_CONCURRENCY": "s3"}, "PIXAUDIT_AWS_API_CONCURRENCY='s3' must be"),
    ],
)
def test_malformed_setting_stops_start_up_naming_it(tmp_path, env, message):
    result = _manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_development_defaults_need_nothing_and_keep_one_secret_key(tmp_path):
    first = _manage(tmp_path, "check")
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text()
    second = _manage(tmp_path, "check")
    assert second.returncode == 0
    assert (tmp_path / "secret_key").read_text() == key
    assert len(key) >= 50
