"""PostgreSQL server: SSL, password hashing, logging and roles (an identity population)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    ErrorKind,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.identity import IDENTITY_COLUMNS
from collectors.postgres._queries import MEMBERSHIPS, PASSWORD_TYPES, ROLES, SERVER

_ATTRIBUTES = (
    ("rolsuper", "SUPERUSER"),
    ("rolcreaterole", "CREATEROLE"),
    ("rolcreatedb", "CREATEDB"),
    ("rolreplication", "REPLICATION"),
    ("rolbypassrls", "BYPASSRLS"),
)
_PRIVILEGED = ("rolsuper", "rolcreaterole", "rolreplication", "rolbypassrls")
_PERMANENT_MARKERS = ("password authentication failed", "no pg_hba.conf entry", "does not exist")


@register
class PostgresServerCollector(Collector):
    """Security settings and roles of one PostgreSQL server, read from its catalogs.

    Connects with ``dsn`` (a secret) in a read-only session and reads ``ssl``,
    ``password_encryption``, ``log_connections``/``log_disconnections``, the server version,
    whether this very connection uses SSL (``pg_stat_ssl``), every role of ``pg_roles``
    (predefined ``pg_*`` roles excluded) with its attributes and memberships, and, when the
    connecting role may read ``pg_authid`` (superuser), the *kind* of each stored password
    hash (scram-sha-256, md5, none), never the hash itself.

    Rows: one ``server`` row (resource ``<host>:<port>`` of the server, ``[<ipv6>]:<port>``
    for an IPv6 address) with the settings, then one ``role`` row per role (resource
    ``<host>:<port>/role:<name>``) in the common identity shape: resources name the server,
    so two servers' ``postgres`` roles never share a name. PostgreSQL records
    neither MFA nor last sign-in, so those columns are null. Access reviews should take the
    rows whose ``kind`` is ``role``.

    Example row: ``db.internal:5432/role:app_admin``, can log in, privileges ``["CREATEROLE",
    "role:app_owner"]``, privileged, password ``md5``, never expires: it fails
    ``postgres_server.scram_passwords``.
    """

    key = "postgres_server"
    title = "PostgreSQL server settings and roles"
    version = 2
    params = (
        Param(
            "dsn",
            "string",
            required=True,
            secret=True,
            help="libpq connection string or URI, e.g. postgresql://auditor:...@db:5432/postgres.",
            destination=True,
        ),
        Param("connect_timeout", "integer", default=10, help="Connection timeout in seconds."),
    )
    permissions = ("pg_read_all_settings", "pg_read_all_stats", "SELECT ON pg_authid")
    columns = (
        *IDENTITY_COLUMNS,
        Column("resource", "string", "<host>:<port> of the server, or <host>:<port>/role:<name>."),
        Column("kind", "string", "server or role."),
        Column("server_version", "string", "server_version setting (server row)."),
        Column("ssl", "string", "ssl setting: on/off (server row)."),
        Column("connection_ssl", "boolean", "The collector's own connection used SSL."),
        Column("password_encryption", "string", "Hash for new passwords (server row)."),
        Column("log_connections", "string", "log_connections setting (server row)."),
        Column("log_disconnections", "string", "log_disconnections setting (server row)."),
        Column("superuser", "boolean", "Role is a superuser."),
        Column("createrole", "boolean", "Role may create roles."),
        Column("createdb", "boolean", "Role may create databases."),
        Column("can_login", "boolean", "Role may log in."),
        Column("replication", "boolean", "Role may start replication."),
        Column("bypassrls", "boolean", "Role bypasses row-level security."),
        Column("valid_until", "datetime", "Password expiry (null: never)."),
        Column("password_type", "string", "Stored hash kind: scram-sha-256, md5, none, other."),
        Column("password_never_expires", "boolean", "Login role with a password and no expiry."),
    )
    resource_column = "resource"
    max_age = timedelta(days=1)
    identity_population = True

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return the server row, then role rows sorted by name."""
        import psycopg
        from psycopg.rows import dict_row

        ctx.record_call("postgres:connect")
        dsn = self._checked_dsn(ctx, psycopg)
        try:
            conn = psycopg.connect(
                dsn,
                connect_timeout=int(ctx.params["connect_timeout"]),
                autocommit=True,
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            text = ctx.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            permanent = any(marker in text for marker in _PERMANENT_MARKERS)
            raise CollectorError(
                f"cannot connect to PostgreSQL: {text or type(exc).__name__}",
                permanent=permanent,
                action="postgres:connect",
                kind=ErrorKind.CREDENTIALS if permanent else ErrorKind.NETWORK,
            ) from None
        try:
            with conn:
                conn.execute("SET default_transaction_read_only = on")
                info = conn.info
                endpoint = server_endpoint(info.host, info.port)
                source = f"postgres:{endpoint}"
                ctx.record_call("postgres:SELECT settings")
                server = conn.execute(SERVER).fetchone() or {}
                ctx.identity = f"{source}/{server.get('database')} as {server.get('connected_as')}"
                ctx.record_call("postgres:SELECT pg_roles")
                roles = conn.execute(ROLES).fetchall()
                members: dict[str, list[str]] = {}
                for item in conn.execute(MEMBERSHIPS).fetchall():
                    members.setdefault(item["member"], []).append(item["granted"])
                hashes = self._password_types(ctx, conn, psycopg)
        except psycopg.Error as exc:
            text = ctx.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            raise CollectorError(
                f"PostgreSQL query failed: {text or type(exc).__name__}",
                permanent=isinstance(exc, psycopg.errors.InsufficientPrivilege),
                action="postgres:SELECT",
                kind=ErrorKind.PERMISSION
                if isinstance(exc, psycopg.errors.InsufficientPrivilege)
                else None,
            ) from None
        now = ctx.now()
        rows = [_server_row(server, source, endpoint)]
        rows.extend(_role_row(r, source, endpoint, members, hashes, now) for r in roles)
        return rows

    @staticmethod
    def _checked_dsn(ctx: CollectionContext, psycopg: Any) -> str:
        """The ``dsn`` param, parsed first so that no libpq message can quote part of it.

        libpq's parse errors quote the word they stumbled on, which may be part of the
        password (``password=two words``); an unencoded ``@`` in a URI password turns the
        rest of the password into the host name, which connection errors then print.
        """
        from psycopg.conninfo import conninfo_to_dict

        dsn = str(ctx.params["dsn"])
        try:
            parsed = conninfo_to_dict(dsn)
        except psycopg.Error:
            raise CollectorError(
                "cannot connect to PostgreSQL: the dsn is not a valid connection string or "
                "URI (libpq's message is withheld: it quotes the dsn)",
                permanent=True,
                action="postgres:connect",
                kind=ErrorKind.CONFIGURATION,
            ) from None
        if "@" in str(parsed.get("host") or ""):
            raise CollectorError(
                "cannot connect to PostgreSQL: the dsn's host contains '@' (percent-encode "
                "'@' in the user name or password as %40)",
                permanent=True,
                action="postgres:connect",
            )
        if parsed.get("password"):
            ctx.add_secret(str(parsed["password"]))
        return dsn

    @staticmethod
    def _password_types(ctx: CollectionContext, conn: Any, psycopg: Any) -> dict[str, str] | None:
        ctx.record_call("postgres:SELECT pg_authid")
        try:
            return {r["rolname"]: r["password_type"] for r in conn.execute(PASSWORD_TYPES)}
        except psycopg.errors.InsufficientPrivilege:
            ctx.error(
                "cannot read pg_authid (superuser only): stored password hashes not checked",
                action="postgres:SELECT pg_authid",
                assertions=("postgres_server.scram_passwords",),
            )
            return None

    @assertion(
        "postgres_server.ssl_enabled",
        title="PostgreSQL accepts SSL connections",
        severity=Severity.HIGH,
        remediation="Set ssl = on with a certificate (ssl_cert_file, ssl_key_file) and use "
        "hostssl lines in pg_hba.conf so clients cannot fall back to plaintext.",
        controls=("soc2-2017:CC6.7", "iso27001-2022:A.8.24", "iso27001-2022:A.8.20"),
        rationale="Encrypting database connections protects data in transit (CC6.7) with "
        "cryptography (A.8.24) across the network (A.8.20).",
    )
    def ssl_enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Evaluated on the server row; the message says whether this connection used SSL."""
        if row["kind"] != "server":
            return None
        used = "used" if row["connection_ssl"] else "did not use"
        if row["ssl"] == "on":
            return Outcome(Status.PASS, f"SSL is on (the collector's connection {used} it).")
        return Outcome(Status.FAIL, f"SSL is {row['ssl']}: connections travel in plaintext.")

    @assertion(
        "postgres_server.scram_passwords",
        title="PostgreSQL passwords are hashed with SCRAM-SHA-256",
        severity=Severity.MEDIUM,
        remediation="Set password_encryption = 'scram-sha-256', then reset the password of "
        "every role still stored as md5; use scram-sha-256 in pg_hba.conf.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.5.17", "iso27001-2022:A.8.5"),
        rationale="Stored passwords are authentication information (A.5.17) that must resist "
        "theft and replay (CC6.1, A.8.5); md5 hashes do not.",
    )
    def scram_passwords(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Server row: the setting; role rows with a password: the stored hash kind.

        A login role whose stored hash could not be read (pg_authid needs a superuser) is
        an ERROR for that role: it may hold an md5 password.
        """
        if row["kind"] == "server":
            setting = row["password_encryption"]
            status = Status.PASS if setting == "scram-sha-256" else Status.FAIL
            return Outcome(status, f"password_encryption is {setting}.")
        kind = row["password_type"]
        name = row["display_name"]
        if kind is None and row["can_login"]:
            return Outcome(Status.ERROR, f"The stored password hash of {name} was not read.")
        if kind in (None, "none"):
            return None
        if kind == "scram-sha-256":
            return Outcome(Status.PASS, f"Password of {name} is stored as SCRAM-SHA-256.")
        return Outcome(Status.FAIL, f"Password of {name} is stored as {kind}.")

    @assertion(
        "postgres_server.superusers_limited",
        title="Only approved roles are PostgreSQL superusers",
        severity=Severity.HIGH,
        remediation="ALTER ROLE <name> NOSUPERUSER, granting narrower roles (pg_monitor, "
        "ownership of specific objects) instead; or add the role to the approved list.",
        controls=("soc2-2017:CC6.3", "iso27001-2022:A.8.2"),
        rationale="Superuser bypasses every permission check: restricting it is least "
        "privilege (CC6.3) and management of privileged access rights (A.8.2).",
        params=(
            Param(
                "allowed",
                "list",
                default=["postgres"],
                help="Roles that may be superusers.",
            ),
        ),
    )
    def superusers_limited(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """One finding per superuser role; other roles are not superusers, so not assessed."""
        if row["kind"] != "role" or not row["superuser"]:
            return None
        name = row["display_name"]
        if name in params["allowed"]:
            return Outcome(Status.PASS, f"{name} is an approved superuser.")
        return Outcome(Status.FAIL, f"{name} is a superuser but not in the approved list.")


def server_endpoint(host: str, port: int | str) -> str:
    """``host:port`` naming a server (``[addr]:port`` for an IPv6 address; a Unix socket
    directory stays a path: ``/var/run/postgresql:5432``)."""
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _server_row(server: dict[str, Any], source: str, endpoint: str) -> dict[str, Any]:
    return {
        "resource": endpoint,
        "kind": "server",
        "display_name": endpoint,
        "source": source,
        **{
            name: server.get(name)
            for name in (
                "server_version",
                "ssl",
                "connection_ssl",
                "password_encryption",
                "log_connections",
                "log_disconnections",
            )
        },
    }


def _role_row(
    role: dict[str, Any],
    source: str,
    endpoint: str,
    members: dict[str, list[str]],
    hashes: dict[str, str] | None,
    now: datetime,
) -> dict[str, Any]:
    name = role["rolname"]
    valid_until = role["valid_until"]
    password = hashes.get(name) if hashes is not None else None
    expired = valid_until is not None and valid_until <= now
    privileges = [label for column, label in _ATTRIBUTES if role[column]]
    privileges += [f"role:{granted}" for granted in members.get(name, [])]
    status = "expired" if expired else ("login" if role["rolcanlogin"] else "nologin")
    return {
        "account_id": name,
        "display_name": name,
        "privileges": sorted(privileges),
        "is_privileged": any(role[column] for column in _PRIVILEGED),
        "status": status,
        "source": source,
        "resource": f"{endpoint}/role:{name}",
        "kind": "role",
        "superuser": role["rolsuper"],
        "createrole": role["rolcreaterole"],
        "createdb": role["rolcreatedb"],
        "can_login": role["rolcanlogin"],
        "replication": role["rolreplication"],
        "bypassrls": role["rolbypassrls"],
        "valid_until": valid_until,
        "password_type": password,
        "password_never_expires": (
            None
            if password is None
            else bool(role["rolcanlogin"] and password != "none" and valid_until is None)
        ),
    }
