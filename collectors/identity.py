"""The common shape of identity populations.

Collectors whose rows are accounts (AWS IAM users, GitHub members, Okta users, PostgreSQL
roles) set ``identity_population = True`` and include these columns, so that access reviews
can start a campaign from any of them without knowing the source. A collector may add columns
of its own after these.
"""

from __future__ import annotations

from collectors.base import Column

IDENTITY_COLUMNS: tuple[Column, ...] = (
    Column("account_id", "string", "Stable identifier of the account at its source"),
    Column("display_name", "string", "Human-readable name (user name, login or role name)"),
    Column("email", "string", "E-mail address when the source knows one"),
    Column("privileges", "json", "Sorted list of roles, groups or policies granting access"),
    Column("is_privileged", "boolean", "Holds administrative or owner-level access"),
    Column("mfa_enabled", "boolean", "At least one second factor is enrolled (null: unknown)"),
    Column("last_activity_at", "datetime", "Last sign-in or credential use (null: never)"),
    Column("status", "string", "Account status at the source (active, suspended, ...)"),
    Column("source", "string", "Where the account lives, e.g. aws:123456789012, github:acme"),
)

IDENTITY_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in IDENTITY_COLUMNS)
