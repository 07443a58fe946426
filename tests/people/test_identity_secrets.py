"""Issue 18: identity collectors' secrets are encrypted like every connection secret and never
reach evidence, findings, logs or errors (the real runner, a real connection)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collectors.testing import serve_fixtures
from pixaudit.evidence.models import Connection, Finding
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.storage import artifact_read

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parents[1] / "collectors" / "fixtures"


def _run(conn: Connection):  # type: ignore[no-untyped-def]
    run = collection_run_create(connection=conn, trigger="manual")
    return collection_run_execute(run_id=run.pk)


def _assert_nowhere(conn: Connection, run, secrets: list[str], caplog) -> None:  # type: ignore[no-untyped-def]
    assert run.status == "succeeded", run.error_message
    stored = json.dumps(Connection.objects.get(pk=conn.pk).secrets)
    item = run.result.evidence
    artifact = artifact_read(item.artifact_path).decode()
    messages = " ".join(Finding.objects.filter(evidence=item).values_list("message", flat=True))
    for secret in secrets:
        assert secret not in stored, "stored in clear"
        assert secret not in artifact and secret not in messages and secret not in caplog.text
        assert secret not in json.dumps(item.provenance)


def test_google_service_account_key(media_root, catalogs, caplog) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    key_json = json.dumps({"type": "service_account", "client_email": "sa@p.iam.example",
                           "private_key": pem, "private_key_id": "k" * 40})  # fmt: skip
    folder = FIXTURES / "google_workspace_users"
    page2 = ("GET /admin/directory/v1/users?customer=my_customer&maxResults=500&pageToken="
             "Q0FFU0hnb2JZbTlpUUdGamJXVXVaWGhoYlhCc1pR&projection=full")  # fmt: skip
    roles = "GET /admin/directory/v1/customer/my_customer/roles?maxResults=100"
    # no throttling here: the runner really sleeps
    routes = {page2: {"body_file": "users_page2.json"}, roles: {"body_file": "roles.json"}}
    with caplog.at_level(logging.DEBUG), serve_fixtures(folder, routes=routes) as server:
        conn = connection_create(name="Google", collector_key="google_workspace_users", params={
            "service_account_key": key_json, "subject": "admin@acme.example",
            "token_uri": server.url("/token"), "base_url": server.base_url})  # fmt: skip
        run = _run(conn)
    body_line = pem.splitlines()[1]
    _assert_nowhere(conn, run, [body_line, "ya29.scrubbedGoogleAccessToken0123456789"], caplog)


def test_entra_client_secret(media_root, catalogs, caplog) -> None:
    secret = "entra~Secret.For.The.Runner.0123456789"
    folder = FIXTURES / "entra_users"
    routes = {"GET /v1.0/users?$skiptoken=RFNwdAIAAQAAACpVc2VyXzAwMDA":
              {"body_file": "users_page2.json"}}  # fmt: skip
    with caplog.at_level(logging.DEBUG), serve_fixtures(folder, routes=routes) as server:
        conn = connection_create(name="Entra", collector_key="entra_users", params={
            "tenant_id": "11111111-2222-4333-8444-555555555555", "client_id": "c",
            "client_secret": secret, "login_url": server.base_url,
            "graph_url": server.base_url})  # fmt: skip
        run = _run(conn)
    _assert_nowhere(conn, run, [secret], caplog)


def test_bamboohr_api_key(media_root, catalogs, caplog) -> None:
    api_key = "bamboo0123456789abcdef0123456789abcdef"
    folder = FIXTURES / "hris_people"
    route = "POST /api/gateway.php/acme/v1/reports/custom?format=JSON&onlyCurrent=false"
    with (
        caplog.at_level(logging.DEBUG),
        serve_fixtures(folder, routes={route: {"body_file": "report.json"}}) as server,
    ):
        conn = connection_create(name="BambooHR", collector_key="hris_people", params={
            "company_domain": "acme", "api_key": api_key, "base_url": server.base_url})  # fmt: skip
        run = _run(conn)
    _assert_nowhere(conn, run, [api_key], caplog)
