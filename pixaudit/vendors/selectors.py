"""Reads of the vendor register: filtered lists, the latest register evidence, the public
sub-processor list."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from pixaudit.evidence.models import EvidenceItem, LatestResult
from pixaudit.evidence.storage import artifact_read
from pixaudit.vendors import register
from pixaudit.vendors.models import Vendor, VendorSettings

__all__ = [
    "FILTERS",
    "PublicSubprocessor",
    "public_subprocessors",
    "register_latest",
    "settings_get",
    "vendor_list",
    "vendor_results",
]

#: The list's filters: name -> label (the values are checked by :func:`vendor_list`).
FILTERS = {"q", "criticality", "processor", "subprocessor", "attention"}


def vendor_list(*, filters: dict[str, str], today: date | None = None) -> QuerySet[Vendor]:
    """Vendors matching the list page's filters: ``q`` (name, purpose), ``criticality``,
    ``processor`` / ``subprocessor`` (yes/no) and ``attention`` (``review_overdue``,
    ``no_dpa``, ``report_expired``). Unknown values are ignored (the form says so)."""
    today = today or timezone.localdate()
    qs = Vendor.objects.select_related("dpa_file", "report_file").annotate(
        incident_count=Count("incidents")
    )
    q = (filters.get("q") or "").strip()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(purpose__icontains=q))
    if filters.get("criticality"):
        qs = qs.filter(criticality=filters["criticality"])
    for name, field in (("processor", "is_processor"), ("subprocessor", "is_subprocessor")):
        if filters.get(name) in ("yes", "no"):
            qs = qs.filter(**{field: filters[name] == "yes"})
    attention = filters.get("attention")
    if attention == "review_overdue":
        qs = qs.filter(Q(next_review_on__lt=today) | Q(next_review_on__isnull=True))
    elif attention == "no_dpa":
        qs = qs.filter(is_processor=True).filter(
            Q(dpa_signed_on__isnull=True) | Q(dpa_file__isnull=True) | Q(dpa_expires_on__lt=today)
        )
    elif attention == "report_expired":
        qs = qs.filter(Q(report_expires_on__lt=today) | Q(report_period_end__isnull=True)
                       | Q(report_file__isnull=True), criticality="critical")  # fmt: skip
    return qs.order_by("name")


def vendor_results(*, vendor: Vendor) -> list[LatestResult]:
    """The current verdicts about a vendor and its incidents."""
    return list(
        LatestResult.objects.filter(
            Q(resource=vendor.resource) | Q(resource__startswith=f"{vendor.resource}/incident:"),
            assertion_id__in=register.ASSERTIONS,
        ).order_by("assertion_id", "resource")
    )


def register_latest() -> tuple[EvidenceItem, dict[str, Any]] | None:
    """The last ``vendor_register`` evidence item and its document."""
    item = EvidenceItem.objects.filter(collector_key=register.REGISTER_KEY).order_by("-seq").first()
    if item is None:
        return None
    return item, json.loads(artifact_read(item.artifact_path))


def settings_get() -> VendorSettings:
    return VendorSettings.objects.filter(pk=1).first() or VendorSettings(pk=1)


@dataclass(frozen=True)
class PublicSubprocessor:
    """What the public trust page shows of a sub-processor: its name and purpose, nothing
    else (no files, no criticality, no dates)."""

    name: str
    purpose: str


def public_subprocessors() -> list[PublicSubprocessor]:
    """The sub-processor list for the trust page; empty unless the organisation opted in."""
    if not settings_get().publish_subprocessors:
        return []
    return [PublicSubprocessor(name=n, purpose=p) for n, p in
            Vendor.objects.filter(is_subprocessor=True).order_by("name")
            .values_list("name", "purpose")]  # fmt: skip
