"""A stored secret never follows a changed destination, and goes only over HTTPS (issue 12.1).

The attack: an engineer edits a GitHub connection, leaves the token blank (so the stored one
is kept) and points ``base_url`` at a host they control; "Run now" would then send
``Authorization: Bearer <token>`` there. Changing a destination param must require
re-entering every secret, destinations of a connection holding a secret must be https://
(plain HTTP to loopback only where the test setting allows it), and the change is
audit-logged with its author.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from collectors.testing import serve_fixtures
from pixaudit.auditlog.models import AuditEvent
from pixaudit.evidence.models import Connection
from pixaudit.evidence.services import (
    ConnectionParamsError,
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_decrypted_params,
    connection_update,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_storedTokenTheEngineerNeverSaw0123"
GITHUB = "https://api.github.com"


@pytest.fixture
def github(field_keys, media_root) -> Connection:
    return connection_create(
        name="GitHub acme",
        collector_key="github_org",
        params={"org": "acme", "token": TOKEN, "base_url": GITHUB},
    )


@pytest.fixture
def engineer(django_user_model):
    return django_user_model.objects.create_user(username="eng", password="unused-pass-123")


def _reloaded(conn: Connection) -> Connection:
    return Connection.objects.get(pk=conn.pk)


def test_a_blank_secret_never_follows_a_changed_base_url(github, engineer):
    with pytest.raises(ConnectionParamsError) as info:
        connection_update(
            connection=github,
            params={"token": "", "base_url": "https://attacker.example/api"},
            user=engineer,
        )
    assert set(info.value.errors) == {"token"}
    assert "Re-enter this secret: base_url changed" in info.value.errors["token"]
    conn = _reloaded(github)
    assert conn.params["base_url"] == GITHUB
    assert connection_decrypted_params(connection=conn)["token"] == TOKEN
    assert not AuditEvent.objects.filter(action="connection.destination_changed").exists()


def test_unsetting_a_destination_back_to_its_default_is_a_change_too(field_keys, engineer):
    conn = connection_create(
        name="GHES",
        collector_key="github_org",
        params={"org": "acme", "token": TOKEN, "base_url": "https://ghe.acme.example/api/v3"},
    )
    with pytest.raises(ConnectionParamsError) as info:
        connection_update(connection=conn, params={"base_url": None, "token": ""})
    assert "token" in info.value.errors


def test_re_entering_the_secret_allows_the_change_and_audits_its_author(github, engineer):
    connection_update(
        connection=github,
        params={"token": "ghp_enteredByTheEngineer0987", "base_url": "https://ghe.acme.example"},
        user=engineer,
    )
    conn = _reloaded(github)
    assert conn.params["base_url"] == "https://ghe.acme.example"
    assert connection_decrypted_params(connection=conn)["token"] == "ghp_enteredByTheEngineer0987"
    event = AuditEvent.objects.get(action="connection.destination_changed")
    assert event.actor_id == engineer.pk and event.actor_repr == "eng"
    assert event.object_id == str(conn.pk)
    assert event.details == {"params": ["base_url"], "secrets_reentered": ["token"]}
    assert "ghp_" not in json.dumps(event.details) + event.object_repr


def test_other_edits_keep_the_blank_secret(github, engineer):
    connection_update(connection=github, params={"token": "", "org": "acme-two"}, user=engineer)
    conn = _reloaded(github)
    assert conn.params["org"] == "acme-two"
    assert connection_decrypted_params(connection=conn)["token"] == TOKEN
    assert not AuditEvent.objects.filter(action="connection.destination_changed").exists()


def test_a_connection_without_stored_secrets_may_move(field_keys, engineer):
    conn = connection_create(
        name="AWS", collector_key="aws_s3_buckets", params={"regions": "eu-west-1"}
    )
    role = "arn:aws:iam::123456789012:role/audit"
    connection_update(connection=conn, params={"role_arn": role}, user=engineer)
    assert _reloaded(conn).params["role_arn"] == role
    event = AuditEvent.objects.get(action="connection.destination_changed")
    assert event.details == {"params": ["role_arn"], "secrets_reentered": []}


def test_aws_role_change_needs_every_stored_key_again(field_keys):
    conn = connection_create(
        name="AWS keys",
        collector_key="aws_iam_users",
        params={"access_key_id": "AKIAEXAMPLEKEY0001", "secret_access_key": "wJalrXUtnFEMI/K7"},
    )
    role = "arn:aws:iam::210987654321:role/other-account"
    with pytest.raises(ConnectionParamsError) as info:
        connection_update(
            connection=conn, params={"role_arn": role, "access_key_id": "AKIAEXAMPLEKEY0001"}
        )
    assert set(info.value.errors) == {"secret_access_key"}
    assert "role_arn changed" in info.value.errors["secret_access_key"]


@pytest.mark.parametrize("url", ["http://api.github.com", "ftp://ghe.acme.example"])
def test_plain_http_destinations_are_refused(field_keys, github, url):
    with pytest.raises(ConnectionParamsError) as info:
        connection_create(
            name="plain", collector_key="github_org",
            params={"org": "acme", "token": TOKEN, "base_url": url},
        )  # fmt: skip
    assert "only over HTTPS" in info.value.errors["base_url"]
    with pytest.raises(ConnectionParamsError) as info:
        connection_update(connection=github, params={"token": TOKEN, "base_url": url})
    assert "only over HTTPS" in info.value.errors["base_url"]
    assert _reloaded(github).params["base_url"] == GITHUB


def test_loopback_http_is_allowed_only_with_the_test_setting(field_keys, settings):
    params = {"org": "acme", "token": TOKEN, "base_url": "http://127.0.0.1:9/api"}
    settings.PIXAUDIT_ALLOW_HTTP_LOOPBACK = False
    with pytest.raises(ConnectionParamsError) as info:
        connection_create(name="local", collector_key="github_org", params=params)
    assert "only over HTTPS" in info.value.errors["base_url"]
    settings.PIXAUDIT_ALLOW_HTTP_LOOPBACK = True
    assert connection_create(name="local", collector_key="github_org", params=params).pk


def test_run_now_fails_closed_when_a_stored_destination_is_plain_http(github, settings):
    """A row written around the services (or before the rule) still never leaks the token."""
    settings.PIXAUDIT_ALLOW_HTTP_LOOPBACK = False
    with serve_fixtures(routes={}) as attacker:
        Connection.objects.filter(pk=github.pk).update(
            params={**github.params, "base_url": attacker.base_url}
        )
        run = collection_run_create(connection=_reloaded(github), trigger="manual")
        run = collection_run_execute(run_id=run.pk)
        assert attacker.requests == []
    assert run.status == "failed" and run.error_permanent
    assert "only over HTTPS" in run.error_message
    assert TOKEN not in run.error_message


def test_the_edit_form_refuses_the_exfiltration_and_says_why(client, github, engineer):
    client.force_login(engineer)
    edit = reverse("dashboard:connection_edit", args=[github.pk])
    page = client.get(edit).content.decode()
    assert "changing it requires re-entering" in page
    assert "Re-enter it when you change base_url" in page
    response = client.post(
        edit,
        {"name": "GitHub acme", "p_org": "acme", "p_token": "",
         "p_base_url": "https://attacker.example/api", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "Re-enter this secret: base_url changed" in errors["p_token"][0]
    assert TOKEN not in response.content.decode()
    assert _reloaded(github).params["base_url"] == GITHUB

    response = client.post(
        edit,
        {"name": "GitHub acme", "p_org": "acme", "p_token": "ghp_newTokenTyped0001",
         "p_base_url": "http://ghe.acme.example/api", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "only over HTTPS" in response.context["form"].errors["p_base_url"][0]
    assert _reloaded(github).params["base_url"] == GITHUB

    response = client.post(
        edit,
        {"name": "GitHub acme", "p_org": "acme", "p_token": "ghp_newTokenTyped0001",
         "p_base_url": "https://ghe.acme.example/api", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="connection.destination_changed")
    assert event.actor_id == engineer.pk


@pytest.mark.parametrize("env", ["production", "development"])
def test_the_loopback_exception_is_off_outside_tests(tmp_path, env):
    """Not even an environment variable switches it on: only tests/settings.py does."""
    code = "import pixaudit.settings as s; print(s.PIXAUDIT_ALLOW_HTTP_LOOPBACK)"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAUDIT_", "DJANGO_"))}
    environ.update(
        PIXAUDIT_ENV=env, PIXAUDIT_VAR_DIR=str(tmp_path), SECRET_KEY="k" * 60,
        ALLOWED_HOSTS="audit.example.com", PIXAUDIT_ALLOW_HTTP_LOOPBACK="1",
    )  # fmt: skip
    environ.pop("DATABASE_URL", None)
    environ.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
