"""Reproducible random samples for auditors.

``random.Random(seed).sample(range(len(population)), k)`` over an ordered population:

- ``identity``: the accounts (``account_id``, sorted) in the latest evidence of an identity
  population collector (``identity_population = True``) collected inside the window;
- ``days``: the calendar days of the audit window, in order.

The seed, the population size and the SHA-256 of the population's canonical JSON are stored
with the drawn items, so ``sample_verify`` (or anyone with the artifact) can redraw it.
"""

from __future__ import annotations

import json
import random
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from collectors import registry
from pixaudit.accounts.models import User
from pixaudit.auditlog.services import audit_log_record
from pixaudit.audits.models import Engagement, Sample, SampleKind
from pixaudit.audits.selectors import engagement_evidence_list
from pixaudit.controls.models import Control
from pixaudit.evidence.canonical import canonical_bytes, sha256_hex
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.storage import artifact_read

__all__ = ["MAX_SAMPLE_SIZE", "sample_draw", "sample_population", "sample_verify"]

MAX_SAMPLE_SIZE = 500
_IDENTITY_FIELDS = ("account_id", "display_name", "email", "source", "is_privileged",
                    "mfa_enabled", "status")  # fmt: skip


def _identity_rows(item: EvidenceItem, resource_column: str) -> list[dict[str, Any]]:
    document = json.loads(artifact_read(item.artifact_path))
    rows = []
    for row in document.get("rows", []):
        key = row.get("account_id") or row.get(resource_column)
        if key is None:
            continue
        entry = {f: row.get(f) for f in _IDENTITY_FIELDS if f in row}
        entry["account_id"] = str(key)
        rows.append(entry)
    rows.sort(key=lambda r: r["account_id"])
    return rows


def sample_population(
    *, engagement: Engagement, kind: str, collector_key: str = ""
) -> tuple[list[dict[str, Any]], list[str], EvidenceItem | None]:
    """``(entries, keys, evidence)``: what can be drawn, the ordered keys hashed, the source."""
    if kind == SampleKind.DAYS:
        days = (engagement.window_end - engagement.window_start).days + 1
        keys = [(engagement.window_start + timedelta(days=i)).isoformat() for i in range(days)]
        return [{"day": k} for k in keys], keys, None
    if kind != SampleKind.IDENTITY:
        raise ValidationError({"kind": "Unknown population."})
    registry.discover()
    try:
        cls = registry.get(collector_key)
    except KeyError:
        raise ValidationError({"collector_key": "Unknown collector."}) from None
    if not cls.identity_population:
        raise ValidationError({"collector_key": "This collector is not an identity population."})
    item = engagement_evidence_list(engagement=engagement, collector_key=collector_key).first()
    if item is None:
        raise ValidationError(
            {"collector_key": "No evidence from this collector inside the audit window."}
        )
    entries = _identity_rows(item, cls.resource_column)
    return entries, [e["account_id"] for e in entries], item


def _draw(population_size: int, size: int, seed: int) -> list[int]:
    return random.Random(seed).sample(range(population_size), k=min(size, population_size))


@transaction.atomic
def sample_draw(
    *,
    engagement: Engagement,
    actor: User,
    kind: str,
    size: int,
    collector_key: str = "",
    seed: int | None = None,
    control: Control | None = None,
    request: HttpRequest | None = None,
) -> Sample:
    """Draw a reproducible sample; ``control`` names the control it tests (optional)."""
    if not 1 <= size <= MAX_SAMPLE_SIZE:
        raise ValidationError({"size": f"Choose between 1 and {MAX_SAMPLE_SIZE} items."})
    if control is not None and not engagement.frameworks.filter(pk=control.framework_id).exists():
        raise ValidationError({"control": "The control is not in this engagement's frameworks."})
    if seed is None:
        seed = secrets.randbits(48)
    entries, keys, evidence = sample_population(
        engagement=engagement, kind=kind, collector_key=collector_key
    )
    if not keys:
        raise ValidationError({"collector_key": "The population is empty."})
    indices = _draw(len(keys), size, seed)
    sample = Sample(
        engagement=engagement,
        kind=kind,
        collector_key=collector_key if kind == SampleKind.IDENTITY else "",
        evidence=evidence,
        size=len(indices),
        seed=seed,
        population_size=len(keys),
        population_hash=sha256_hex(canonical_bytes(keys)),
        items=[{"index": i, **entries[i]} for i in indices],
        control=control,
        created_by=actor,
    )
    sample.save()
    audit_log_record(actor=actor, action="sample.drawn", obj=sample, request=request,
                     engagement_id=engagement.pk, kind=kind, seed=seed, size=len(indices),
                     population_size=len(keys),
                     control=control.address if control else None)  # fmt: skip
    return sample


def sample_verify(*, sample: Sample) -> bool:
    """Redraw from the stored source and seed; True when population and draw both match."""
    if sample.kind == SampleKind.IDENTITY:
        if sample.evidence is None:
            return False
        registry.discover()
        entries = _identity_rows(
            sample.evidence, registry.get(sample.collector_key).resource_column
        )
        keys = [e["account_id"] for e in entries]
    else:
        _entries, keys, _ = sample_population(engagement=sample.engagement, kind=sample.kind)
    if sha256_hex(canonical_bytes(keys)) != sample.population_hash:
        return False
    return _draw(len(keys), sample.size, sample.seed) == [item["index"] for item in sample.items]
