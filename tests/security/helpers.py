"""Shared test helpers for roles, MFA-verified sessions, engagements and evidence."""

from __future__ import annotations

import functools
import io
import itertools
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from pixaudit.accounts.models import Role, User
from pixaudit.accounts.services import user_create
from pixaudit.audits.models import AuditorInvitation, Engagement
from pixaudit.audits.services import invitation_token_hash
from pixaudit.controls.models import Framework
from pixaudit.evidence.canonical import canonical_bytes, sha256_hex
from pixaudit.evidence.models import (
    GENESIS_HASH,
    CollectionRun,
    EvidenceItem,
    Finding,
    RunStatus,
    RunTrigger,
)
from pixaudit.evidence.storage import artifact_store
from pixaudit.reports.models import Report
from pixaudit.reports.selectors import evidence_pin_current
from pixaudit.reports.services import (
    report_mark_succeeded,
    report_pdf_save,
    report_scope_resolve,
)

PASSWORD = "a-long-test-password-42"
_counter = itertools.count(1)


def user_make(role: str, username: str | None = None, **extra: Any) -> User:
    username = username or f"{role.replace('_', '-')}-{next(_counter)}"
    return user_create(username=username, email=f"{username}@example.com", role=role,
                       password=PASSWORD, **extra)  # fmt: skip


def totp_device_make(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def totp_now(device: TOTPDevice, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def client_for(user: User | None, *, verified: bool = True) -> Client:
    """A test client signed in as ``user`` (MFA-verified when ``verified``), or anonymous."""
    client = Client()
    if user is None:
        return client
    client.force_login(user)
    if verified:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        device = device or totp_device_make(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def engagement_make(
    *, framework: Framework, start: date, end: date, name: str = "Test engagement"
) -> Engagement:
    engagement = Engagement.objects.create(name=name, window_start=start, window_end=end)
    engagement.frameworks.add(framework)
    return engagement


def invitation_make(
    *, engagement: Engagement, user: User | None, expires_in: timedelta = timedelta(days=7),
    accepted: bool = True, revoked: bool = False, email: str | None = None,
) -> tuple[AuditorInvitation, str]:  # fmt: skip
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation = AuditorInvitation.objects.create(
        engagement=engagement,
        email=email or (user.email if user else "new-auditor@example.com"),
        user=user if accepted else None,
        token_hash=invitation_token_hash(token),
        expires_at=now + expires_in,
        accepted_at=now if accepted else None,
        revoked_at=now if revoked else None,
    )
    return invitation, token


def evidence_make(
    *, collector_key: str, collected_at: datetime, rows: list[dict] | None = None
) -> EvidenceItem:
    """An evidence item with a real stored artifact and one finding (no collector run)."""
    rows = rows if rows is not None else [{"name": "r1"}]
    data = canonical_bytes({"collector": {"key": collector_key}, "rows": rows})
    sha = sha256_hex(data)
    run = CollectionRun.objects.create(
        collector_key=collector_key, status=RunStatus.SUCCEEDED, trigger=RunTrigger.CLI
    )
    last = EvidenceItem.objects.order_by("-seq").first()
    seq = last.seq + 1 if last else 1
    item = EvidenceItem(
        run=run, collector_key=collector_key, collector_version=1, pixaudit_version="test",
        collected_at=collected_at, effective_at=collected_at,
        expires_at=collected_at + timedelta(days=1), row_count=len(rows), findings_count=1,
        sha256=sha, artifact_path=artifact_store(data, sha), size=len(data),
        findings_digest="0" * 64, seq=seq, prev_chain_hash=last.chain_hash if last else
        GENESIS_HASH, chain_hash=secrets.token_hex(32),
    )  # fmt: skip
    item.save()
    Finding(
        evidence=item, run=run, assertion_id=f"{collector_key}.check", resource="r1",
        status="pass", severity="low", message="ok", controls=["soc2-2017:CC6.1"],
        collected_at=collected_at,
    ).save()  # fmt: skip
    return item


@functools.cache
def pdf_make(text: str = "pixaudit engagement report") -> bytes:
    """A small, valid one-page PDF showing ``text`` (pypdf only, no layout engine)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })  # fmt: skip
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def report_make(*, engagement: Engagement, framework: Framework, created_by: User | None = None,
                text: str | None = None) -> Report:  # fmt: skip
    """A succeeded engagement report whose stored PDF is a small real PDF (no render),
    pinned to the evidence of its period as it stands now."""
    scope = report_scope_resolve(framework_key=framework.key, engagement_id=engagement.pk)
    report = Report.objects.create(
        framework=scope.framework, period_start=scope.period.start, period_end=scope.period.end,
        engagement_id=engagement.pk, created_by=created_by,
    )  # fmt: skip
    pdf = pdf_make(text or f"pixaudit report for engagement {engagement.name}")
    name = report_pdf_save(report=report, pdf=pdf)
    pin = evidence_pin_current(period=scope.period)
    return report_mark_succeeded(report=report, file_path=name, pdf=pdf, page_count=1, pin=pin)


def roles_all() -> list[str]:
    return [r.value for r in Role]
