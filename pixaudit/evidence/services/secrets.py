"""Key rotation for stored secrets (``manage.py rotate_secrets_key``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import transaction

from pixaudit.evidence import crypto
from pixaudit.evidence.models import CollectionRun, Connection

__all__ = ["RotationReport", "secrets_rotate"]


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    already_current: int
    rows_changed: int


def _rotate_tokens(kind: str, pk: int, tokens: dict[str, str], current: str) -> tuple[dict, int]:
    out, changed = {}, 0
    for name, token in tokens.items():
        if crypto.key_id_of(token) == current:
            out[name] = token
            continue
        aad = crypto.secret_aad(kind, pk, name)
        out[name] = crypto.encrypt(crypto.decrypt(token, aad=aad), aad=aad)
        changed += 1
    return out, changed


def secrets_rotate() -> RotationReport:
    """Re-encrypt every stored secret not under the current key. Idempotent.

    Covers connections and connection-less runs (``collect --params``). Each row is
    rewritten in its own short transaction, so a failure (e.g. a token under a key that was
    already removed) leaves earlier rows rotated and can be fixed and re-run.
    """
    current = crypto.current_key_id()
    reencrypted = already = rows = 0
    owners: list[tuple[Any, str]] = [(Connection, "connection"), (CollectionRun, "run")]
    if apps.is_installed("pixaudit.awsorg"):  # AWS integrations keep credentials too
        owners.append((apps.get_model("awsorg", "AwsIntegration"), "awsintegration"))
    for model, kind in owners:
        for pk in model.objects.exclude(secrets={}).values_list("pk", flat=True).iterator():
            with transaction.atomic():
                obj = model.objects.select_for_update().get(pk=pk)
                tokens, changed = _rotate_tokens(kind, pk, dict(obj.secrets), current)
                reencrypted += changed
                already += len(tokens) - changed
                if changed:
                    model.objects.filter(pk=pk).update(secrets=tokens)
                    rows += 1
    return RotationReport(reencrypted, already, rows)
