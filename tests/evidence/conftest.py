"""Fixtures for the evidence engine: a controllable test collector and helpers."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db_connection

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    registry,
)

#: The secret the tests hand to collectors; it must never appear anywhere it is stored.
SECRET = "s3cr3t-T0KEN-value-42"

DEFAULT_ITEMS = [
    {"name": "bucket-b", "encrypted": True, "size": 10, "seen_at": "2026-01-02T03:04:05Z"},
    {"name": "bucket-a", "encrypted": False, "size": 2000, "seen_at": "2026-01-01T00:00:00Z"},
    {"name": "bucket-c", "encrypted": True, "size": 5, "seen_at": None},
]


class InventoryCollector(Collector):
    """Test inventory: rows come from the ``items`` param; ``mode`` makes it misbehave."""

    key = "testsrc_inventory"
    title = "Test inventory"
    version = 2
    params = (
        Param("items", "json", help="Rows to return."),
        Param("region", "string", default="eu-west-1", help="Region."),
        Param("mode", "string", default="ok", help="ok, transient, permanent, crash, ..."),
        Param("token", "string", secret=True, help="API token."),
        Param("max_size", "integer", default=1000, help="Size limit."),
    )
    permissions = ("test:List",)
    columns = (
        Column("name", "string", "Resource name."),
        Column("encrypted", "boolean", "Encrypted at rest."),
        Column("size", "integer", "Size."),
        Column("seen_at", "datetime", "When seen."),
    )
    resource_column = "name"
    max_age = timedelta(hours=6)
    default_items: list[dict[str, Any]] = DEFAULT_ITEMS

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        mode = ctx.params["mode"]
        token = ctx.params.get("token") or ""
        ctx.identity = "arn:test:identity/collector"
        ctx.record_call("test:List")
        ctx.logger.info("listing with token %s", token)
        if mode == "transient":
            raise CollectorError(f"throttled while using {token}", permanent=False)
        if mode == "permanent":
            raise CollectorError(
                f"AccessDenied on test:List for token {token}", permanent=True, action="test:List"
            )
        if mode == "crash":
            raise RuntimeError(f"boom with {token}")
        if mode == "unknown_column":
            return [{"name": "x", "surprise": 1}]
        if mode == "leak":
            return [{"name": f"leaky-{token}"}]
        if mode == "partial":
            ctx.error("AccessDenied describing bucket-c", action="test:Describe",
                      resource="bucket-c")  # fmt: skip
        items = ctx.params.get("items")
        return [dict(i) for i in (type(self).default_items if items is None else items)]

    @assertion(
        "testsrc_inventory.encrypted",
        title="Encrypted",
        severity=Severity.HIGH,
        remediation="Encrypt it.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
    )
    def encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        if row["encrypted"]:
            return Outcome(Status.PASS, f"{row['name']} is encrypted.")
        return Outcome(Status.FAIL, f"{row['name']} is not encrypted.")

    @assertion(
        "testsrc_inventory.small",
        title="Small",
        severity=Severity.LOW,
        remediation="Shrink it.",
        controls=("soc2-2017:CC7.1",),
        params=(Param("limit", "integer", default=1000),),
    )
    def small(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        if row["size"] is None:
            return None
        if row["size"] <= params["limit"]:
            return Outcome(Status.PASS, f"{row['name']} is small.")
        return Outcome(Status.WARN, f"{row['name']} is {row['size']} big.")


@pytest.fixture
def inventory():
    with registry.temporarily(InventoryCollector):
        yield InventoryCollector


@pytest.fixture
def field_keys(monkeypatch):
    """Set PIXAUDIT_FIELD_KEYS to a fresh key; returns a setter for rotation tests."""

    def set_keys(*keys: str) -> None:
        monkeypatch.setenv("PIXAUDIT_FIELD_KEYS", ",".join(keys))

    key = base64.b64encode(os.urandom(32)).decode()
    set_keys(key)
    set_keys.first = key  # type: ignore[attr-defined]
    return set_keys


@pytest.fixture
def media_root(settings, tmp_path):
    """A private artifact directory per test (storage reads settings on each access)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


def is_postgres() -> bool:
    return db_connection.vendor == "postgresql"


@pytest.fixture
def require_postgres():
    if not is_postgres():
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
