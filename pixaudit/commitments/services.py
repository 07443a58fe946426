"""Writes of the commitments app: load the policy's commitments, publish the trust page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from pixaudit.commitments.models import Commitment, TrustPage
from pixaudit.commitments.selectors import trust_page_digest, trust_page_entries
from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import control_get_by_address, parse_control_address
from pixaudit.evidence.models import ManualKind
from pixaudit.posture.selectors import assertion_catalog
from pixaudit.vendors.register import ASSERTIONS as VENDOR_ASSERTIONS

__all__ = [
    "BUILTIN_PATH",
    "CommitmentsFileError",
    "LoadResult",
    "commitments_load",
    "commitments_load_builtin",
    "trust_page_set",
]

BUILTIN_PATH = Path(__file__).resolve().parent / "data" / "data-protection-policy.yaml"
#: Assertions produced by pixaudit itself rather than a collector.
INTERNAL_ASSERTIONS = frozenset(
    {
        "access_review.completed",
        "access_review.revocations_applied",
        "access_review.modifications_applied",
    }
) | frozenset(VENDOR_ASSERTIONS)
_FIELDS = {"key", "title", "statement", "section", "assertions", "controls", "requires_manual",
           "public", "manual_kinds", "covers"}  # fmt: skip


class CommitmentsFileError(ValueError):
    pass


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    removed: int


def _validate(entries: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    known = set(assertion_catalog()) | INTERNAL_ASSERTIONS
    loaded = set(Framework.objects.values_list("key", flat=True))
    keys: set[str] = set()
    for index, entry in enumerate(entries, 1):
        where = f"commitment #{index} ({entry.get('key', '?')})"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping")
            continue
        unknown = set(entry) - _FIELDS
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for field in ("key", "title", "statement"):
            if not str(entry.get(field) or "").strip():
                problems.append(f"{where}: '{field}' is required")
        if entry.get("key") in keys:
            problems.append(f"{where}: duplicate key")
        keys.add(entry.get("key"))
        for assertion_id in entry.get("assertions") or []:
            if assertion_id not in known:
                problems.append(f"{where}: unknown assertion {assertion_id!r}")
        for address in entry.get("controls") or []:
            try:
                framework, _ = parse_control_address(address)
                if framework in loaded:
                    control_get_by_address(address)
            except (ValueError, Control.DoesNotExist) as exc:
                problems.append(f"{where}: {exc}")
        bad_kinds = set(entry.get("manual_kinds") or []) - set(ManualKind.values)
        if bad_kinds:
            names = ", ".join(sorted(bad_kinds))
            problems.append(f"{where}: unknown manual evidence kind(s) {names}")
        if entry.get("manual_kinds") and not entry.get("requires_manual"):
            problems.append(f"{where}: manual_kinds needs requires_manual: true")
        if not all(isinstance(line, str) and line.strip() for line in entry.get("covers") or []):
            problems.append(f"{where}: 'covers' must be a list of policy lines")
        if not entry.get("assertions") and not entry.get("requires_manual"):
            problems.append(f"{where}: no assertion and no manual evidence: nothing proves it")
    return problems


def commitments_load(*, path: str | Path) -> LoadResult:
    """Upsert the commitments of a YAML file (by key); those no longer in it are removed."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CommitmentsFileError(f"cannot read {path}: {exc}") from None
    entries = document.get("commitments") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise CommitmentsFileError(f"{path}: expected a 'commitments' list")
    problems = _validate(entries)
    if problems:
        raise CommitmentsFileError(f"{path}: " + "; ".join(problems))
    created = updated = 0
    with transaction.atomic():
        for order, entry in enumerate(entries):
            _, was_created = Commitment.objects.update_or_create(
                key=entry["key"],
                defaults={
                    "title": entry["title"].strip(),
                    "statement": entry["statement"].strip(),
                    "section": (entry.get("section") or "").strip(),
                    "assertion_ids": list(entry.get("assertions") or []),
                    "control_addresses": list(entry.get("controls") or []),
                    "requires_manual": bool(entry.get("requires_manual", False)),
                    "manual_kinds": list(entry.get("manual_kinds") or []),
                    "covers": [line.strip() for line in entry.get("covers") or []],
                    "public": bool(entry.get("public", True)),
                    "sort_order": order,
                    "source": str(document.get("source") or "")[:200],
                },
            )
            created += was_created
            updated += not was_created
        removed, _ = Commitment.objects.exclude(key__in=[e["key"] for e in entries]).delete()
    return LoadResult(created, updated, removed)


def commitments_load_builtin() -> LoadResult:
    """Load the commitments of the PixMuse AI Data Protection policy (the demo calls this)."""
    return commitments_load(path=BUILTIN_PATH)


class TrustPageChanged(ValueError):
    """The public content is no longer what the publisher reviewed."""


def trust_page_publish(*, user: Any, reviewed_digest: str) -> TrustPage:
    """Publish the trust page as previewed: refuse if its content changed since the preview.

    The audit event names the content's SHA-256 and the commitments made public.
    """
    from pixaudit.auditlog.services import audit_log_record

    entries = trust_page_entries()
    digest = trust_page_digest(entries)
    if digest != reviewed_digest:
        raise TrustPageChanged(
            "The trust page's content changed since your preview; review it again."
        )
    with transaction.atomic():
        page, _ = TrustPage.objects.get_or_create(pk=1)
        page.enabled, page.updated_by = True, user
        page.save()
        audit_log_record(
            actor=user, action="trust_page.set", obj=page, enabled=True, content_sha256=digest,
            commitments=[e.key for e in entries],
        )  # fmt: skip
    return page


def trust_page_set(*, enabled: bool, user: Any) -> TrustPage:
    from pixaudit.auditlog.services import audit_log_record

    with transaction.atomic():
        page, _ = TrustPage.objects.get_or_create(pk=1)
        page.enabled, page.updated_by = bool(enabled), user
        page.save()
        audit_log_record(actor=user, action="trust_page.set", obj=page, enabled=page.enabled)
    return page
