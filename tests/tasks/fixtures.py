"""A demo_inventory connection whose one bucket fails or passes encryption on demand."""

from __future__ import annotations

import pytest

from pixaudit.controls.models import Control
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.posture.ownership import control_owner_assign

__all__ = ["bucket", "collect", "demo", "owner"]


def bucket(encrypted: bool) -> list[dict]:
    return [{"name": "bucket-x", "kind": "storage", "encrypted": encrypted, "key_age_days": 10,
             "owner": "platform"}]  # fmt: skip


def collect(conn: Connection, *, encrypted: bool | None = None) -> EvidenceItem:
    """Collect ``conn`` (setting the bucket's encryption first) inside on-commit capture."""
    if encrypted is not None:
        Connection.objects.filter(pk=conn.pk).update(params={"resources": bucket(encrypted)})
    run = collection_run_create(connection=conn, trigger="manual")
    run = collection_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error_message
    return run.result.evidence


@pytest.fixture
def demo(db, media_root, catalogs) -> Connection:
    return connection_create(
        name="Sandbox", collector_key="demo_inventory", params={"resources": bucket(False)}
    )


@pytest.fixture
def owner(users, catalogs) -> Control:
    """SOC 2 CC6.1, owned by the engineer."""
    control = Control.objects.get(framework__key="soc2-2017", ref="CC6.1")
    control_owner_assign(control=control, owner=users.engineer, actor=users.manager)
    return control
