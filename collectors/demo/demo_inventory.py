"""The offline demo source: a deterministic resource inventory (no cloud, no network)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

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
    register,
)
from collectors.schema import format_datetime

ACCOUNT_KINDS = frozenset({"account"})
ENCRYPTABLE_KINDS = frozenset({"storage", "database", "volume"})
_FIELDS = frozenset(
    {
        "name",
        "kind",
        "encrypted",
        "mfa",
        "owner",
        "key_age_days",
        "key_rotated_at",
        "created_at",
        "tags",
        "error",
    }
)

#: Built-in sample used when no ``resources`` param is given; it has passes and failures.
SAMPLE_RESOURCES: tuple[dict[str, Any], ...] = (
    {"name": "acct-alice", "kind": "account", "mfa": True, "owner": "alice",
     "created_at": "2023-02-01T09:00:00Z"},
    {"name": "acct-bob", "kind": "account", "mfa": False, "owner": "bob",
     "created_at": "2023-05-12T14:30:00Z"},
    {"name": "bucket-finance", "kind": "storage", "encrypted": True, "key_age_days": 30,
     "owner": "finance", "created_at": "2022-11-20T08:00:00Z", "tags": {"data": "confidential"}},
    {"name": "bucket-logs", "kind": "storage", "encrypted": False, "owner": "platform",
     "created_at": "2022-06-01T00:00:00Z", "tags": {"data": "internal"}},
    {"name": "db-orders", "kind": "database", "encrypted": True, "key_age_days": 400,
     "created_at": "2021-09-09T12:00:00Z"},
    {"name": "svc-deploy", "kind": "service", "owner": "platform",
     "created_at": "2024-01-15T10:00:00Z"},
)  # fmt: skip


@register
class DemoInventoryCollector(Collector):
    """Offline demo inventory of accounts and data stores (the ``demo`` source).

    Collected: one row per resource of the ``resources`` param (a JSON list of objects with
    ``name``, ``kind``, ``encrypted``, ``mfa``, ``owner``, ``key_age_days`` or
    ``key_rotated_at``, ``created_at``, ``tags`` and optionally ``error``), or of a built-in
    deterministic sample when the param is unset. No API is called; the declared
    ``demo:*`` permissions only exist so the UI's permission views have something to show.
    A resource with ``error`` (e.g. ``"AccessDenied"``) is reported as a partial failure:
    its encryption findings become ERROR. ``simulate_error`` makes the whole run fail with a
    transient or permanent error, to exercise the runner's retry paths.

    Example row: ``bucket-logs``, kind ``storage``, not encrypted, owned by ``platform``,
    created 2022-06-01; it fails ``demo_inventory.encryption_at_rest``.
    """

    key = "demo_inventory"
    title = "Demo resource inventory (offline)"
    version = 1
    params = (
        Param(
            "resources",
            "json",
            help="JSON list of resources to report; the built-in sample is used when empty.",
        ),
        Param(
            "simulate_error",
            "string",
            default="none",
            choices=("none", "transient", "permanent"),
            help="Fail the whole collection on purpose (to exercise retries and errors).",
        ),
        Param(
            "simulate_delay",
            "float",
            default=0.0,
            help="Seconds to pause per resource, to watch progress or stop a worker mid-run.",
        ),
        Param(
            "api_token",
            "string",
            secret=True,
            help="Optional and never sent anywhere; exercises secret handling offline.",
        ),
    )
    permissions = ("demo:ListResources", "demo:DescribeResource")
    columns = (
        Column("name", "string", "Unique resource name."),
        Column("kind", "string", "Resource kind: account, service, storage, database or volume."),
        Column("encrypted", "boolean", "Whether data at rest is encrypted (data stores only)."),
        Column("mfa", "boolean", "Whether multi-factor authentication is enforced (accounts)."),
        Column("owner", "string", "Accountable owner (person or team), if recorded."),
        Column("key_age_days", "integer", "Days since the encryption key was last rotated."),
        Column("created_at", "datetime", "When the resource was created (UTC)."),
        Column("tags", "json", "Free-form tags of the resource."),
    )
    resource_column = "name"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per resource, sorted by name."""
        mode = ctx.params.get("simulate_error") or "none"
        if mode != "none":
            raise CollectorError(
                f"simulated {mode} failure", permanent=mode == "permanent",
                action="demo:ListResources",
            )  # fmt: skip
        ctx.identity = "demo:offline"
        ctx.record_call("demo:ListResources")
        resources = ctx.params.get("resources")
        if resources is None:
            resources = [dict(r) for r in SAMPLE_RESOURCES]
        if not isinstance(resources, list):
            raise CollectorError("resources must be a JSON list of objects", permanent=True)
        rows = list(self._rows(ctx, resources))
        return sorted(rows, key=lambda row: row["name"])

    def _rows(self, ctx: CollectionContext, resources: list[Any]) -> Iterator[dict[str, Any]]:
        delay = float(ctx.params.get("simulate_delay") or 0.0)
        for index, item in enumerate(resources):
            ctx.check_budget()
            if delay > 0:
                time.sleep(delay)
            if not isinstance(item, dict) or not item.get("name"):
                raise CollectorError(
                    f"resources[{index}] must be an object with a name", permanent=True
                )
            unknown = sorted(set(item) - _FIELDS)
            if unknown:
                raise CollectorError(
                    f"resources[{index}] has unknown fields: {', '.join(unknown)}",
                    permanent=True,
                )
            name = str(item["name"])
            ctx.record_call("demo:DescribeResource")
            encrypted = item.get("encrypted")
            if item.get("error"):
                ctx.error(
                    f"{item['error']} describing {name}",
                    action="demo:DescribeResource",
                    resource=name,
                    assertions=(
                        "demo_inventory.encryption_at_rest",
                        "demo_inventory.key_rotation",
                    ),
                )
                encrypted = None
            key_age = item.get("key_age_days")
            if key_age is None and item.get("key_rotated_at"):
                rotated = format_datetime(item["key_rotated_at"])
                key_age = (ctx.now() - _parse(rotated)).days
            yield {
                "name": name,
                "kind": item.get("kind") or "storage",
                "encrypted": encrypted,
                "mfa": item.get("mfa"),
                "owner": item.get("owner"),
                "key_age_days": key_age,
                "created_at": item.get("created_at"),
                "tags": item.get("tags") or {},
            }
            ctx.progress(index + 1, len(resources), name)

    @assertion(
        "demo_inventory.encryption_at_rest",
        title="Data stores are encrypted at rest",
        severity=Severity.HIGH,
        remediation="Enable encryption at rest on the data store (provider-managed keys or "
        "a customer-managed key).",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
        rationale="Encryption at rest is a logical access safeguard (CC6.1) and the use of "
        "cryptography to protect information (A.8.24).",
    )
    def encryption_at_rest(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Data stores (storage, database, volume) must be encrypted; others are skipped."""
        if row["kind"] not in ENCRYPTABLE_KINDS:
            return None
        if row["encrypted"] is None:
            return Outcome(Status.WARN, f"Encryption status of {row['name']} is unknown.")
        if row["encrypted"]:
            return Outcome(Status.PASS, f"{row['name']} is encrypted at rest.")
        return Outcome(Status.FAIL, f"{row['name']} is not encrypted at rest.")

    @assertion(
        "demo_inventory.mfa_enabled",
        title="Accounts require multi-factor authentication",
        severity=Severity.HIGH,
        remediation="Enforce MFA for the account in the identity provider.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.5"),
        rationale="MFA is part of logical access security (CC6.1) and secure authentication "
        "(A.8.5).",
    )
    def mfa_enabled(row: dict[str, Any], params: dict[str, Any]) -> tuple[Status, str] | None:
        """Human accounts must have MFA; non-account resources are skipped."""
        if row["kind"] not in ACCOUNT_KINDS:
            return None
        if row["mfa"] is None:
            return Status.WARN, f"MFA status of {row['name']} is unknown."
        if row["mfa"]:
            return Status.PASS, f"{row['name']} has MFA enabled."
        return Status.FAIL, f"{row['name']} does not have MFA enabled."

    @assertion(
        "demo_inventory.key_rotation",
        title="Encryption keys are rotated",
        severity=Severity.MEDIUM,
        remediation="Rotate the encryption key, or enable automatic key rotation.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
        rationale="Key rotation is part of cryptographic key management (A.8.24, CC6.1).",
        params=(Param("max_days", "integer", default=90, help="Maximum key age in days."),),
    )
    def key_rotation(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Encrypted data stores with a known key age must be rotated within ``max_days``."""
        if not row["encrypted"] or row["key_age_days"] is None:
            return None
        age, limit = row["key_age_days"], params["max_days"]
        if age <= limit:
            return Outcome(Status.PASS, f"Key of {row['name']} is {age} days old.")
        return Outcome(Status.FAIL, f"Key of {row['name']} is {age} days old (limit {limit} days).")

    @assertion(
        "demo_inventory.owner_assigned",
        title="Every inventoried resource has an owner",
        severity=Severity.LOW,
        remediation="Record an accountable owner (person or team) for the resource.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.5.9"),
        rationale="An inventory of assets with owners supports A.5.9 and the asset "
        "identification point of focus of CC6.1.",
        per="table",
    )
    def owner_assigned(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """One outcome per resource; an empty inventory is a WARN on ``*``."""
        if not rows:
            yield Outcome(Status.WARN, "The inventory is empty.", "*")
            return
        for row in rows:
            if row["owner"]:
                yield Outcome(
                    Status.PASS, f"{row['name']} is owned by {row['owner']}.", row["name"]
                )
            else:
                yield Outcome(Status.FAIL, f"{row['name']} has no owner.", row["name"])


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
