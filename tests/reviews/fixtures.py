"""Fixtures shared by tests/reviews, tests/manual and tests/commitments.

``people`` is a test identity-population collector (``identity_population = True``) whose
rows come from the ``items`` param, so a test controls the population collection by
collection. Catalogs are loaded and mapped; artifacts go to a private directory per test.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from collectors import CollectionContext, Collector, Param, registry
from collectors.identity import IDENTITY_COLUMNS
from pixaudit.accounts.models import Role
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Framework
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from tests.security.helpers import client_for, user_make

__all__ = [
    "PEOPLE",
    "PeopleCollector",
    "catalogs",
    "client_for",
    "collect",
    "media_root",
    "people",
    "person",
    "user_make",
    "users",
]


class PeopleCollector(Collector):
    """Test identity population: rows are the ``items`` param."""

    key = "testsrc_people"
    title = "Test people"
    version = 1
    identity_population = True
    params = (Param("items", "json", help="Rows."),)
    permissions = ("test:ListUsers",)
    columns = IDENTITY_COLUMNS
    resource_column = "account_id"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        ctx.identity = "test:people"
        return [dict(i) for i in ctx.params.get("items") or []]


def person(account_id: str, privileges=("dev",), mfa=True, status="active", **extra):
    return {
        "account_id": account_id,
        "display_name": account_id.title(),
        "email": f"{account_id}@example.com",
        "privileges": sorted(privileges),
        "is_privileged": "admin" in privileges,
        "mfa_enabled": mfa,
        "last_activity_at": "2026-01-01T00:00:00Z",
        "status": status,
        "source": "test:people",
        **extra,
    }


PEOPLE = [person("alice", ("admin",)), person("bob"), person("carol", mfa=False)]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@pytest.fixture
def catalogs(db) -> dict[str, Framework]:
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    return {f.key: f for f in Framework.objects.all()}


@pytest.fixture
def people(db, media_root, catalogs):
    """A connection of the people collector, collected once with ``PEOPLE``."""
    with registry.temporarily(PeopleCollector):
        conn = connection_create(
            name="Test directory", collector_key=PeopleCollector.key, params={"items": PEOPLE}
        )
        collect(conn)
        yield conn


def collect(conn: Connection, items: list[dict] | None = None) -> EvidenceItem:
    """Collect ``conn`` (optionally with new rows) and return the stored evidence."""
    if items is not None:
        conn.params = {**conn.params, "items": items}
        conn.save(update_fields=["params"])
    run = collection_run_create(connection=conn, trigger="manual")
    run = collection_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error_message
    return run.result.evidence


@pytest.fixture
def users(db):
    class U:
        admin = user_make(Role.ADMIN)
        manager = user_make(Role.COMPLIANCE_MANAGER)
        engineer = user_make(Role.ENGINEER)
        other_engineer = user_make(Role.ENGINEER)
        auditor = user_make(Role.AUDITOR)

    return U
