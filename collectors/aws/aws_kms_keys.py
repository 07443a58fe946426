"""KMS keys: metadata, aliases and automatic rotation of customer-managed keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import KEY_MANAGEMENT

ROTATION = "aws_kms_keys.rotation_enabled"


@register
class KmsKeysCollector(Collector):
    """Every KMS key in the selected regions, with its aliases and rotation status.

    Collected: ``kms:ListKeys`` and ``kms:ListAliases`` (paginated) per region, then per key
    ``kms:DescribeKey`` and, for enabled customer-managed symmetric keys with KMS key
    material, ``kms:GetKeyRotationStatus`` (other keys cannot rotate automatically, so their
    ``rotation_enabled`` is null).

    Example row: ``arn:aws:kms:eu-west-1:123456789012:key/1234abcd-...``, alias
    ``alias/uploads``, CUSTOMER, SYMMETRIC_DEFAULT, Enabled, rotation on every 365 days.
    """

    key = "aws_kms_keys"
    title = "AWS KMS keys"
    version = 1
    params = aws.AWS_PARAMS
    permissions = (
        *aws.REGIONAL_PERMISSIONS,
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
    )
    columns = (
        Column("arn", "string", "Key ARN."),
        Column("key_id", "string", "Key id."),
        Column("account_id", "string", "AWS account id."),
        Column("region", "string", "Region of the key."),
        Column("aliases", "json", "Sorted alias names of the key."),
        Column("description", "string", "Key description."),
        Column("key_manager", "string", "CUSTOMER or AWS."),
        Column("key_spec", "string", "Key spec (SYMMETRIC_DEFAULT, RSA_2048, ...)."),
        Column("key_usage", "string", "ENCRYPT_DECRYPT, SIGN_VERIFY, ..."),
        Column("key_state", "string", "Enabled, Disabled, PendingDeletion, ..."),
        Column("origin", "string", "AWS_KMS, EXTERNAL, AWS_CLOUDHSM or EXTERNAL_KEY_STORE."),
        Column("multi_region", "boolean", "Multi-Region key."),
        Column("rotation_enabled", "boolean", "Automatic rotation on (null: not applicable)."),
        Column("rotation_period_days", "integer", "Rotation period when rotation is on."),
        Column("created_at", "datetime", "Creation time (UTC)."),
    )
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per key, sorted by ARN."""
        account, partition = aws.caller(ctx)

        def lister(client: Any, region: str) -> list[tuple[Any, str, dict[str, Any], list[str]]]:
            keys = aws.paginate(client, "list_keys", "Keys")
            aliases: dict[str, list[str]] = {}
            for alias in aws.paginate(client, "list_aliases", "Aliases"):
                if alias.get("TargetKeyId"):
                    aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
            return [(client, region, k, sorted(aliases.get(k["KeyId"], []))) for k in keys]

        listed = aws.collect_regional(ctx, "kms", lister, assertions=(ROTATION,))

        def describe(item: tuple[Any, str, dict[str, Any], list[str]]) -> dict[str, Any]:
            client, region, listed_key, names = item
            arn = listed_key.get("KeyArn") or (
                f"arn:{partition}:kms:{region}:{account}:key/{listed_key['KeyId']}"
            )
            response = aws.call(
                ctx, client, "describe_key", resource=arn, assertions=(ROTATION,),
                KeyId=listed_key["KeyId"],
            )  # fmt: skip
            meta = (response or {}).get("KeyMetadata") or {}
            rotation: dict[str, Any] = {}
            if _rotatable(meta):
                rotation = aws.call(
                    ctx, client, "get_key_rotation_status", resource=arn,
                    assertions=(ROTATION,), KeyId=listed_key["KeyId"],
                ) or {}  # fmt: skip
            return _row(arn, listed_key["KeyId"], account, region, names, meta, rotation)

        return sorted(aws.pmap(ctx, describe, listed, api="kms"), key=lambda row: row["arn"])

    @assertion(
        ROTATION,
        title="Customer-managed KMS keys rotate automatically",
        severity=Severity.MEDIUM,
        remediation="Enable automatic rotation: `aws kms enable-key-rotation --key-id KEY "
        "[--rotation-period-in-days 365]`. Rotation keeps old key material for decryption, "
        "so nothing needs re-encrypting.",
        **KEY_MANAGEMENT,
    )
    def rotation_enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Applies to enabled customer-managed symmetric keys with KMS-generated material."""
        if not _rotatable(
            {
                "KeyManager": row["key_manager"],
                "KeySpec": row["key_spec"],
                "KeyState": row["key_state"],
                "Origin": row["origin"],
            }
        ):
            return None
        label = ", ".join(row["aliases"] or []) or row["key_id"]
        if row["rotation_enabled"]:
            return Outcome(Status.PASS, f"KMS key {label} rotates automatically.")
        return Outcome(Status.FAIL, f"KMS key {label} does not rotate automatically.")


def _rotatable(meta: dict[str, Any]) -> bool:
    return (
        meta.get("KeyManager") == "CUSTOMER"
        and meta.get("KeySpec") == "SYMMETRIC_DEFAULT"
        and meta.get("KeyState") == "Enabled"
        and meta.get("Origin") == "AWS_KMS"
    )


def _row(
    arn: str,
    key_id: str,
    account: str,
    region: str,
    aliases: list[str],
    meta: dict[str, Any],
    rotation: dict[str, Any],
) -> dict[str, Any]:
    return {
        "arn": arn,
        "key_id": key_id,
        "account_id": account,
        "region": region,
        "aliases": aliases,
        "description": meta.get("Description"),
        "key_manager": meta.get("KeyManager"),
        "key_spec": meta.get("KeySpec"),
        "key_usage": meta.get("KeyUsage"),
        "key_state": meta.get("KeyState"),
        "origin": meta.get("Origin"),
        "multi_region": meta.get("MultiRegion"),
        "rotation_enabled": rotation.get("KeyRotationEnabled"),
        "rotation_period_days": rotation.get("RotationPeriodInDays"),
        "created_at": meta.get("CreationDate"),
    }
