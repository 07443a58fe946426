"""Identity populations: which connections can be reviewed, and their rows in one shape.

Any collector with ``identity_population = True`` (AWS IAM users, GitHub members, Okta users,
PostgreSQL roles) produces rows with ``collectors.identity.IDENTITY_COLUMNS``; the rows of its
latest evidence for a connection are the population. The offline demo inventory is adapted
(its ``account`` rows) so that a demo without AWS still has something to review.
"""

from __future__ import annotations

import json
from typing import Any

from collectors import registry
from collectors.identity import IDENTITY_COLUMN_NAMES
from pixaudit.evidence.models import Connection, EvidenceItem
from pixaudit.evidence.storage import artifact_read

__all__ = [
    "DEMO_INVENTORY",
    "identity_collector_keys",
    "population_evidence",
    "population_rows",
    "reviewable_connections",
]

DEMO_INVENTORY = "demo_inventory"


def identity_collector_keys() -> set[str]:
    registry.discover()
    keys = {cls.key for cls in registry.all_collectors() if cls.identity_population}
    return keys | {DEMO_INVENTORY}


def population_evidence(*, connection: Connection) -> EvidenceItem | None:
    """The latest evidence of the connection's own collector (never review/manual items)."""
    return (
        EvidenceItem.objects.filter(connection=connection, collector_key=connection.collector_key)
        .order_by("-seq")
        .first()
    )


def reviewable_connections() -> list[tuple[Connection, EvidenceItem]]:
    """Connections of identity collectors that have evidence, with their latest item."""
    keys = identity_collector_keys()
    out = []
    for conn in Connection.objects.filter(collector_key__in=keys).order_by("name"):
        item = population_evidence(connection=conn)
        if item is not None:
            out.append((conn, item))
    return out


def _demo_account(row: dict[str, Any]) -> dict[str, Any]:
    tags = row.get("tags") or {}
    privileges = sorted(f"{k}:{v}" for k, v in tags.items()) if isinstance(tags, dict) else []
    return {
        "account_id": row["name"],
        "display_name": row.get("owner") or row["name"],
        "email": None,
        "privileges": privileges,
        "is_privileged": bool(isinstance(tags, dict) and tags.get("role") == "admin"),
        "mfa_enabled": row.get("mfa"),
        "last_activity_at": None,
        "status": "active",
        "source": "demo",
    }


def population_rows(*, item: EvidenceItem) -> list[dict[str, Any]]:
    """The identity rows of an evidence item, sorted by ``account_id``."""
    document = json.loads(artifact_read(item.artifact_path))
    rows = document.get("rows") or []
    if item.collector_key == DEMO_INVENTORY:
        out = [_demo_account(r) for r in rows if r.get("kind") == "account"]
    else:
        out = [{name: row.get(name) for name in IDENTITY_COLUMN_NAMES} for row in rows]
    for row in out:
        row["account_id"] = str(row["account_id"])
        row["privileges"] = sorted(str(p) for p in (row.get("privileges") or []))
    return sorted(out, key=lambda r: r["account_id"])
