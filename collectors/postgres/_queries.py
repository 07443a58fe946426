"""Read-only catalog queries of ``postgres_server`` (plain SQL, no server-side changes)."""

from __future__ import annotations

__all__ = ["MEMBERSHIPS", "PASSWORD_TYPES", "ROLES", "SERVER"]

SERVER = """
SELECT current_setting('server_version') AS server_version,
       current_setting('ssl') AS ssl,
       current_setting('password_encryption') AS password_encryption,
       current_setting('log_connections') AS log_connections,
       current_setting('log_disconnections') AS log_disconnections,
       current_user AS connected_as,
       current_database() AS database,
       (SELECT s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()) AS connection_ssl
"""

# Predefined roles (pg_*) are left out: they are built-in groups, not accounts.
# 'infinity' cannot be loaded into a Python datetime, hence the CASE.
ROLES = """
SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls,
       CASE WHEN r.rolvaliduntil = 'infinity' THEN NULL ELSE r.rolvaliduntil END AS valid_until
FROM pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY r.rolname
"""

MEMBERSHIPS = """
SELECT m.rolname AS member, g.rolname AS granted
FROM pg_auth_members am
JOIN pg_roles m ON m.oid = am.member
JOIN pg_roles g ON g.oid = am.roleid
ORDER BY 1, 2
"""

# Needs superuser (pg_authid). Only the hash *kind* leaves the server, never the hash.
PASSWORD_TYPES = """
SELECT rolname,
       CASE WHEN rolpassword IS NULL THEN 'none'
            WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram-sha-256'
            WHEN rolpassword LIKE 'md5%' THEN 'md5'
            ELSE 'other' END AS password_type
FROM pg_authid
"""
