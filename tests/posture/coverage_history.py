"""A hand-built 90-day history with known day-by-day answers (shared by coverage tests).

Window: day 1 = 2026-01-01 .. day 90 = 2026-03-31; "now" is 2026-04-05.

- CC6.1 (assertion ``cov_synth.mfa``, two resources, collected daily at 12:00 through the
  real append path, evidence valid 2 days): FAIL on days 10-14 (one resource), no
  collection on day 29 and 30, so the day-28 evidence expires on day 30 (stale), collections
  again from day 31; the SoA excludes it from day 50 (decided 09:00 UTC that day).
- CC4.1: manual only, an upload effective day 20 and valid until day 70 (expired from 71).
- CC7.1: nothing at all (not tested).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from collectors.base import Finding as SdkFinding
from collectors.base import Severity, Status
from pixaudit.controls.models import CheckMapping, Control
from pixaudit.evidence.models import CollectionRun
from pixaudit.evidence.services.ingest import (
    chain_append_locked,
    chain_lock,
    evidence_post_ingest,
)
from pixaudit.evidence.services.manual import manual_evidence_upload
from pixaudit.posture.services import applicability_decide

START = date(2026, 1, 1)
END = date(2026, 3, 31)
NOW = datetime(2026, 4, 5, 12, tzinfo=UTC)
ASSERTION = "cov_synth.mfa"


def day(n: int) -> date:
    return START + timedelta(days=n - 1)


def at(n: int, hour: int = 12) -> datetime:
    return datetime.combine(day(n), time(hour), tzinfo=UTC)


def ingest(
    moment: datetime,
    results: dict[str, str],
    *,
    key: str = "cov_synth",
    assertion: str = ASSERTION,
    valid_for: timedelta = timedelta(days=2),
):
    """Append one collection through the real chain append, then the post-ingest hooks."""
    run = CollectionRun.objects.create(collector_key=key, trigger="manual", status="running")
    findings = [
        SdkFinding(assertion, res, Status(st), Severity.HIGH, f"{res} {st}.")
        for res, st in sorted(results.items())
    ]
    with transaction.atomic():
        item = chain_append_locked(
            head=chain_lock(), run=run, connection_id=None, collector_key=key,
            collector_version=1, sha256=f"{run.pk:064x}", artifact_path=f"cov/{run.pk}.json",
            size=0, collected_at=moment, effective_at=moment,
            expires_at=moment + valid_for, rows_count=len(findings),
            findings=findings, provenance={},
        )  # fmt: skip
    evidence_post_ingest(item=item)
    return item


def build(user) -> dict[str, Control]:
    """Write the history; returns the three controls by ref."""
    controls = {
        c.ref: c
        for c in Control.objects.filter(
            framework__key="soc2-2017", ref__in=["CC6.1", "CC4.1", "CC7.1"]
        )
    }
    CheckMapping.objects.create(assertion_id=ASSERTION, control=controls["CC6.1"], rationale="t")
    for n in range(1, 91):
        if n in (29, 30):
            continue
        status = "fail" if 10 <= n <= 14 else "pass"
        ingest(at(n), {"alice": "pass", "bob": status})
    applicability_decide(
        control=controls["CC6.1"], applicable=False, justification="Out of scope.", user=user,
        now=at(50, 9),
    )  # fmt: skip
    manual_evidence_upload(
        upload=SimpleUploadedFile("policy.pdf", b"%PDF-1.7\n%%EOF\n"), file_name="policy.pdf",
        title="Access policy", effective_on=day(20), valid_until=day(70),
        control_addresses=["soc2-2017:CC4.1"], user=user,
    )  # fmt: skip
    return controls


def expected_cc61(n: int) -> str:
    if n >= 50:
        return "not_applicable"
    if 10 <= n <= 14:
        return "failing"
    if n == 30:
        return "stale"
    return "passing"


def expected_cc41(n: int) -> str:
    if n < 20:
        return "no_evidence"
    return "manual_valid" if n <= 70 else "manual_expired"
