"""``postgres_server`` against the real PostgreSQL on 127.0.0.1:5432 (throwaway roles and DB)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from collectors import CollectorError, Status
from collectors.identity import IDENTITY_COLUMN_NAMES
from collectors.lint import lint_collector
from collectors.postgres.postgres_server import PostgresServerCollector
from collectors.testing import run_collector

psycopg = pytest.importorskip("psycopg")

ADMIN_DSN = os.environ.get(
    "PIXAUDIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _endpoint() -> str:
    """``host:port`` of the server ADMIN_DSN names: the resource of the server row."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(ADMIN_DSN)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"


@dataclass
class Sandbox:
    dsn: str
    suffix: str

    def role(self, name: str) -> str:
        return f"pxa_{name}_{self.suffix}"


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no PostgreSQL at {ADMIN_DSN}: {exc}")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A database and four roles with a random suffix, dropped after the test."""
    suffix = secrets.token_hex(4)
    box = Sandbox(dsn="", suffix=suffix)
    database = f"pxa_test_{suffix}"
    with _admin() as admin:
        admin.execute(f"CREATE DATABASE {database}")
        admin.execute(f"CREATE ROLE {box.role('group')} NOLOGIN CREATEROLE")
        admin.execute(f"CREATE ROLE {box.role('super')} LOGIN SUPERUSER")
        admin.execute(
            f"CREATE ROLE {box.role('scram')} LOGIN PASSWORD 'pw-{suffix}' "
            "VALID UNTIL '2099-01-01 00:00:00+00'"
        )
        admin.execute(f"GRANT {box.role('group')} TO {box.role('scram')}")
        admin.execute("SET password_encryption = 'md5'")
        admin.execute(f"CREATE ROLE {box.role('md5')} LOGIN PASSWORD 'pw-{suffix}'")
        box.dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
        try:
            yield box
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            for name in ("md5", "scram", "super", "group"):
                admin.execute(f"DROP ROLE IF EXISTS {box.role(name)}")


def test_collector_is_conformant() -> None:
    assert lint_collector(PostgresServerCollector) == []
    names = tuple(c.name for c in PostgresServerCollector.columns)
    assert names[: len(IDENTITY_COLUMN_NAMES)] == IDENTITY_COLUMN_NAMES


def test_server_settings_and_roles(sandbox: Sandbox) -> None:
    result = run_collector(PostgresServerCollector, {"dsn": sandbox.dsn})
    server = result.rows[0]
    with _admin() as admin:
        ssl_setting = admin.execute("SHOW ssl").fetchone()[0]
        encryption = admin.execute("SHOW password_encryption").fetchone()[0]
        version = admin.execute("SHOW server_version").fetchone()[0]
    endpoint = _endpoint()
    assert server["kind"] == "server" and server["resource"] == endpoint
    assert server["server_version"] == version
    assert server["ssl"] == ssl_setting and server["password_encryption"] == encryption
    assert server["log_connections"] in ("on", "off")
    assert server["account_id"] is None
    assert result.identity.endswith(f"/pxa_test_{sandbox.suffix} as postgres")
    expected_ssl = Status.PASS if ssl_setting == "on" else Status.FAIL
    assert result.statuses("postgres_server.ssl_enabled") == {endpoint: expected_ssl}
    assert {r["resource"] for r in result.rows if r["kind"] == "role"} == {
        f"{endpoint}/role:{r['display_name']}" for r in result.rows if r["kind"] == "role"
    }

    roles = {r["display_name"]: r for r in result.rows if r["kind"] == "role"}
    assert not [name for name in roles if name.startswith("pg_")]
    assert list(roles) == sorted(roles)
    scram = roles[sandbox.role("scram")]
    assert scram["privileges"] == [f"role:{sandbox.role('group')}"]
    assert scram["is_privileged"] is False and scram["status"] == "login"
    assert scram["valid_until"] == "2099-01-01T00:00:00.000000Z"
    assert scram["password_type"] == "scram-sha-256"
    assert scram["password_never_expires"] is False
    md5 = roles[sandbox.role("md5")]
    assert md5["password_type"] == "md5" and md5["password_never_expires"] is True
    group = roles[sandbox.role("group")]
    assert group["privileges"] == ["CREATEROLE"] and group["is_privileged"] is True
    assert group["status"] == "nologin" and group["password_type"] == "none"
    assert roles[sandbox.role("super")]["privileges"] == ["SUPERUSER"]

    scram_findings = result.statuses("postgres_server.scram_passwords")
    assert scram_findings[f"{endpoint}/role:{sandbox.role('scram')}"] is Status.PASS
    assert scram_findings[f"{endpoint}/role:{sandbox.role('md5')}"] is Status.FAIL
    assert f"{endpoint}/role:{sandbox.role('group')}" not in scram_findings  # no password at all
    superusers = result.statuses("postgres_server.superusers_limited")
    assert superusers[f"{endpoint}/role:postgres"] is Status.PASS
    assert superusers[f"{endpoint}/role:{sandbox.role('super')}"] is Status.FAIL
    assert f"{endpoint}/role:{sandbox.role('scram')}" not in superusers


def test_allowed_superusers_is_a_threshold(sandbox: Sandbox) -> None:
    allowed = ["postgres", sandbox.role("super")]
    result = run_collector(
        PostgresServerCollector,
        {"dsn": sandbox.dsn},
        thresholds={"postgres_server.superusers_limited": {"allowed": allowed}},
    )
    superusers = result.statuses("postgres_server.superusers_limited")
    assert superusers[f"{_endpoint()}/role:{sandbox.role('super')}"] is Status.PASS


def test_non_superuser_cannot_see_password_hashes(sandbox: Sandbox) -> None:
    dsn = sandbox.dsn.replace("postgres@", f"{sandbox.role('scram')}:pw-{sandbox.suffix}@")
    with _admin() as admin:
        admin.execute(f"GRANT CONNECT ON DATABASE pxa_test_{sandbox.suffix} TO PUBLIC")
    result = run_collector(PostgresServerCollector, {"dsn": dsn})
    findings = result.statuses("postgres_server.scram_passwords")
    assert findings["*"] is Status.ERROR  # stored hashes unknown: never a silent pass
    # the setting itself is still evaluated; each login role is an ERROR, never absent
    rows = result.rows
    server = next(r["resource"] for r in rows if r["kind"] == "server")
    assert server == _endpoint()
    logins = {r["resource"] for r in rows if r["kind"] == "role" and r["can_login"]}
    assert logins and set(findings) == {"*", server, *logins}
    assert {findings[role] for role in logins} == {Status.ERROR}
    assert all(r["password_type"] is None for r in result.rows if r["kind"] == "role")
    superusers = result.statuses("postgres_server.superusers_limited")
    assert superusers[f"{_endpoint()}/role:postgres"] is Status.PASS


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_unreachable_server_is_transient_and_secret_free() -> None:
    password = "s3cret-" + secrets.token_hex(4)
    dsn = f"postgresql://postgres:{password}@127.0.0.1:{_closed_port()}/postgres"
    with pytest.raises(CollectorError, match="cannot connect") as info:
        run_collector(PostgresServerCollector, {"dsn": dsn, "connect_timeout": 2})
    assert not info.value.permanent
    assert password not in str(info.value)


def test_missing_database_is_permanent() -> None:
    _admin().close()
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/pxa_missing_{secrets.token_hex(4)}"
    with pytest.raises(CollectorError, match="does not exist") as info:
        run_collector(PostgresServerCollector, {"dsn": dsn})
    assert info.value.permanent


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        # an unquoted password with a space: libpq quotes the word after it
        (
            "host=127.0.0.1 port={port} user=postgres password=correct horse-battery",
            "horse-battery",
        ),
        # an '@' in a URI password that was not percent-encoded: libpq takes the rest as host
        ("postgresql://postgres:pa@ss-word-x@127.0.0.1:{port}/postgres", "ss-word-x"),
    ],
)
def test_malformed_dsn_error_does_not_quote_the_secret(template: str, fragment: str) -> None:
    dsn = template.format(port=_closed_port())
    with pytest.raises(CollectorError, match="cannot connect") as info:
        run_collector(PostgresServerCollector, {"dsn": dsn, "connect_timeout": 2})
    assert fragment not in info.value.message
    assert info.value.permanent


def test_connection_lost_mid_collection_is_a_transient_collector_error() -> None:
    from collectors import CollectionContext

    app = f"pxa-lost-{secrets.token_hex(4)}"
    admin = _admin()

    class KillsTheSession(CollectionContext):
        def record_call(self, action: str) -> None:
            super().record_call(action)
            if action == "postgres:SELECT pg_roles":  # connected, settings read
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (app,),
                )

    separator = "&" if "?" in ADMIN_DSN else "?"
    dsn = f"{ADMIN_DSN}{separator}application_name={app}"
    try:
        with pytest.raises(CollectorError, match="PostgreSQL") as info:
            run_collector(PostgresServerCollector, ctx=KillsTheSession({"dsn": dsn}))
    finally:
        admin.close()
    assert not info.value.permanent


def test_resources_name_the_server_so_two_servers_never_collide(sandbox: Sandbox) -> None:
    # Issue 12.2: every server row was "server" and every role "role:<name>", so two
    # servers' results overwrote each other. Resources now carry the server's host:port.
    from collectors.postgres.postgres_server import server_endpoint

    result = run_collector(PostgresServerCollector, {"dsn": sandbox.dsn})
    endpoint = _endpoint()
    assert "server" not in {f.resource for f in result.findings}
    assert result.rows[0]["resource"] == result.rows[0]["display_name"] == endpoint
    assert all(
        f.resource == endpoint or f.resource.startswith(f"{endpoint}/role:") or f.resource == "*"
        for f in result.findings
    )
    assert server_endpoint("db.internal", 5432) == "db.internal:5432"
    assert server_endpoint("::1", 5433) == "[::1]:5433"
    assert server_endpoint("/var/run/postgresql", "5432") == "/var/run/postgresql:5432"
