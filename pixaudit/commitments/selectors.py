"""Live status of commitments, from current results and manual evidence (constant queries).

Rules, first match wins (``docs``: "every claim backed"):

1. ``no_evidence``: no current result for any of its assertions and no manual state.
2. ``failing`` / ``error`` / ``warning``: any current result of its assertions is FAIL /
   ERROR / WARN.
3. ``manual_pending``: it requires manual evidence and none of its controls has an unexpired
   upload.
4. ``stale``: the freshest automated evidence of one of the connections behind it has
   expired.
5. ``passing`` ("verified").

``last_verified_at`` is the latest collection time of its results, or the effective date of
its current manual evidence, whichever is later.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from django.db.models import Count, Max
from django.utils import timezone

from pixaudit.commitments.models import Commitment, TrustPage
from pixaudit.evidence.models import EvidenceItem, LatestResult, ManualEvidence, ManualKind
from pixaudit.evidence.selectors_manual import ManualControlState, manual_states

__all__ = [
    "PUBLIC_LABELS",
    "CommitmentState",
    "TrustEntry",
    "commitment_results",
    "commitment_states",
    "trust_page_digest",
    "trust_page_enabled",
    "trust_page_entries",
]

LABELS = {
    "passing": "Verified",
    "failing": "Failing",
    "error": "Error",
    "warning": "Needs review",
    "stale": "Stale",
    "manual_pending": "Manual pending",
    "no_evidence": "No evidence",
}
#: What the public trust page says: no internals, no detail.
PUBLIC_LABELS = {
    "passing": "Verified",
    "failing": "Attention needed",
    "error": "Verification incomplete",
    "warning": "Under review",
    "stale": "Verification overdue",
    "manual_pending": "Renewal pending",
    "no_evidence": "Not yet verified",
}


@dataclass
class CommitmentState:
    commitment: Commitment
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    last_verified_at: datetime | None = None
    manual: list[ManualControlState] = field(default_factory=list)
    manual_items: list[ManualEvidence] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS[self.status]

    @property
    def public_label(self) -> str:
        return PUBLIC_LABELS[self.status]

    @property
    def backing(self) -> str:
        """How the claim is proven: automated checks, manual evidence, or both."""
        c = self.commitment
        if c.assertion_ids and c.requires_manual:
            return "automated and manual"
        return "automated" if c.assertion_ids else "manual"

    @property
    def manual_kind_labels(self) -> list[str]:
        """The kinds of manual evidence that count, in words (empty: any kind)."""
        return [ManualKind(k).label for k in self.commitment.manual_kinds if k in ManualKind.values]


def _status(
    commitment: Commitment, counts: dict[str, int], expired: bool, manual_valid: bool
) -> str:
    # Manual evidence counts only for commitments that require it: their controls are shared
    # with other commitments, whose uploads would otherwise leak into this one's status.
    manual_valid = commitment.requires_manual and manual_valid
    for status, name in (("fail", "failing"), ("error", "error"), ("warn", "warning")):
        if counts.get(status):
            return name
    if commitment.requires_manual and not manual_valid:
        return "manual_pending"
    if not counts:
        return "passing" if manual_valid else "no_evidence"
    return "stale" if expired else "passing"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def commitment_states(*, public_only: bool = False, now: datetime | None = None):
    """Every commitment with its live state (five queries; six with manual kinds named)."""
    now = now or timezone.now()
    today = now.date()
    commitments = list(
        Commitment.objects.filter(public=True) if public_only else Commitment.objects.all()
    )
    wanted = {a for c in commitments for a in c.assertion_ids}
    rows = list(
        LatestResult.objects.filter(assertion_id__in=sorted(wanted))
        .values("assertion_id", "status", "evidence_id", "connection_id")
        .annotate(n=Count("id"), last=Max("collected_at"))
        .order_by()
    )
    expiry = dict(
        EvidenceItem.objects.filter(pk__in={r["evidence_id"] for r in rows}).values_list(
            "pk", "expires_at"
        )
    )
    by_assertion: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_assertion[row["assertion_id"]].append(row)
    addresses = {a for c in commitments for a in c.control_addresses}
    manual = manual_states(addresses=addresses)
    current_ids = {m.current_id for m in manual.values() if m.current_id}
    items = ManualEvidence.objects.in_bulk(current_ids)
    by_kind = _longest_valid_by_kind({k for c in commitments for k in c.manual_kinds})
    states = []
    for commitment in commitments:
        counts: dict[str, int] = defaultdict(int)
        last = None
        # Freshness per connection: the freshest evidence of each connection behind the
        # commitment counts, and one connection's expired evidence is not made current by
        # another connection's fresh evidence (adding a connection never improves a status).
        freshest: dict[int | None, datetime] = {}
        for assertion_id in commitment.assertion_ids:
            for row in by_assertion.get(assertion_id, ()):
                counts[row["status"]] += row["n"]
                last = max(last, row["last"]) if last else row["last"]
                expires = expiry.get(row["evidence_id"])
                key = row["connection_id"]
                if expires is not None and (key not in freshest or expires > freshest[key]):
                    freshest[key] = expires
        own = [manual[a] for a in commitment.control_addresses if a in manual]
        if commitment.manual_kinds:
            # Only uploads of the named kinds prove it (an isolation attestation, say): the
            # longest-valid one of each kind for each of its controls.
            candidates = {
                by_kind[(a, k)].pk: by_kind[(a, k)]
                for a in commitment.control_addresses
                for k in commitment.manual_kinds
                if (a, k) in by_kind
            }
            manual_valid = any(i.valid_until >= today for i in candidates.values())
        else:
            candidates = {items[m.current_id].pk: items[m.current_id] for m in own
                          if m.current_id in items}  # fmt: skip
            manual_valid = any(m.valid(today) for m in own)
        own_items = sorted(candidates.values(), key=lambda i: i.valid_until)
        for item in own_items if commitment.requires_manual else ():
            if item.valid_until >= today:
                when = _midnight(item.effective_on)
                last = max(last, when) if last else when
        expired = any(expires < now for expires in freshest.values())
        status = _status(commitment, dict(counts), expired, manual_valid)
        states.append(CommitmentState(commitment, status, dict(counts), last, own, own_items))
    return states


def _longest_valid_by_kind(kinds: set[str]) -> dict[tuple[str, str], ManualEvidence]:
    """(control address, kind) -> the upload of that kind valid the longest (one query)."""
    if not kinds:
        return {}
    best: dict[tuple[str, str], ManualEvidence] = {}
    uploads = ManualEvidence.objects.filter(kind__in=sorted(kinds))
    for item in uploads.order_by("valid_until", "uploaded_at", "id"):
        for address in item.control_addresses:
            best[(address, item.kind)] = item  # ascending order: the last one wins
    return best


def commitment_results(*, commitment: Commitment, limit: int = 200) -> list[LatestResult]:
    """The current results behind a commitment, non-passing first (internal page only)."""
    qs = LatestResult.objects.filter(assertion_id__in=commitment.assertion_ids).select_related(
        "connection", "evidence"
    )
    rows = list(qs.order_by("assertion_id", "resource")[: limit * 4])
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
    rows.sort(key=lambda r: (order.get(r.status, 9), r.assertion_id, r.resource))
    return rows[:limit]


def trust_page_enabled() -> bool:
    page = TrustPage.objects.filter(pk=1).first()
    return bool(page and page.enabled)


@dataclass(frozen=True)
class TrustEntry:
    """One item of the public trust page: everything it shows, nothing more."""

    key: str
    title: str
    statement: str
    status: str
    label: str
    last_verified_on: date | None


def trust_page_entries(*, now: datetime | None = None) -> list[TrustEntry]:
    """Exactly what the public trust page shows now (its preview renders the same list)."""
    return [
        TrustEntry(
            key=s.commitment.key,
            title=s.commitment.title,
            statement=s.commitment.statement,
            status=s.status,
            label=s.public_label,
            last_verified_on=s.last_verified_at.astimezone(UTC).date()
            if s.last_verified_at
            else None,
        )
        for s in commitment_states(public_only=True, now=now)
    ]


def trust_page_digest(entries: list[TrustEntry]) -> str:
    """SHA-256 of the public content, so a publication names what was reviewed."""
    content = [
        [e.key, e.title, e.statement, e.label,
         e.last_verified_on.isoformat() if e.last_verified_on else None]
        for e in entries
    ]  # fmt: skip
    data = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()
