"""Writes of the reports app: create and render reports, stamp downloads, build packs.

Reports are rendered by the ``reports`` job (``jobs.report_render``), which calls
:func:`report_render`; commands and the demo render synchronously through the same function.
This module never imports the jobs module (jobs import services, never the reverse): the job
is enqueued by its dotted path, which RQ resolves in the worker. Progress is written to the
Report row with single-row UPDATEs outside any transaction, so the status page sees it while
the job runs.

A rendered report pins the evidence it was rendered from (``ReportEvidencePin`` plus the
report's chain head); :func:`pack_build` builds the pack from that pin and the stored PDF,
so a pack holds exactly what its report shows, whenever it is downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import django_rq
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from pixaudit.controls.models import Framework
from pixaudit.evidence.canonical import canonical_bytes
from pixaudit.evidence.storage import file_save_atomic
from pixaudit.reports import oscal
from pixaudit.reports.models import Report, ReportEvidencePin, ReportStatus
from pixaudit.reports.packs import PackResult, PackUnavailable, evidence_pack_paths, pack_write
from pixaudit.reports.rendering import pdf_watermark, report_pdf
from pixaudit.reports.selectors import (
    EngagementUnavailable,
    EvidencePin,
    Period,
    PinnedEvidenceMissing,
    ReportData,
    engagement_scope,
    period_default,
    report_data,
    report_evidence_pin,
)

logger = logging.getLogger(__name__)

REPORTS_QUEUE = "reports"
#: The render job by dotted path: RQ imports it when it runs, this module never does.
REPORT_RENDER_JOB = "pixaudit.reports.jobs.report_render"


class ReportScopeError(ValueError):
    """The framework, period or engagement asked for does not make a report."""


@dataclass(frozen=True)
class ReportScope:
    framework: Framework
    period: Period
    engagement_id: int | None = None
    engagement_name: str = ""
    #: List and pack the data-subject request register's evidence (default: left out).
    include_privacy_register: bool = False
    #: Limited to one AWS account or one OU (both empty: every account); see
    #: :func:`aws_scope_check`. ``aws_scope_label`` says it in words.
    aws_account: str = ""
    aws_ou: str = ""
    aws_scope_label: str = ""


def aws_scope_check(*, account: str = "", ou: str = "") -> tuple[str, str, str]:
    """``(account, ou, label)`` of a report limited to one AWS account or one OU, checked
    against the accounts and OUs known from stored evidence (the overview filter's
    choices, ``awsorg.selectors.known_accounts`` / ``known_ous``); ``("", "", "")`` for
    neither. Raises :class:`ReportScopeError` with a message a user can act on."""
    from pixaudit.awsorg.selectors import aws_scope, aws_scope_label, known_accounts, known_ous

    account, ou = (account or "").strip(), (ou or "").strip()
    if not account and not ou:
        return "", "", ""
    if account and ou:
        raise ReportScopeError("limit the report to one AWS account or to one OU, not both")
    if account and account not in dict(known_accounts()):
        raise ReportScopeError(
            f"AWS account {account[:40]!r} has no collected evidence: choose one of the "
            "accounts an AWS integration collects"
        )
    if ou and ou not in dict(known_ous()):
        raise ReportScopeError(
            f"OU {ou[:80]!r} is not above any collected AWS account: choose one of the OUs "
            "an AWS integration's account listing found"
        )
    return account, ou, aws_scope_label(aws_scope(account, ou))


def report_scope_resolve(
    *,
    framework_key: str | None,
    start: date | None = None,
    end: date | None = None,
    engagement_id: int | None = None,
    include_privacy_register: bool = False,
    aws_account: str = "",
    aws_ou: str = "",
) -> ReportScope:
    """Framework + period from explicit values, or from an audit engagement.

    With an engagement, its window is the period (explicit dates narrow it) and its
    framework is used; ``framework_key`` must be one of the engagement's frameworks, and is
    required when the engagement has several.

    ``include_privacy_register``: the data-subject request register's evidence is left out
    of the report and its packs unless selected. With an engagement, the engagement's own
    setting decides (what its auditors may see), whatever is passed here.

    ``aws_account`` / ``aws_ou``: limit the report to one AWS account or one OU
    (:func:`aws_scope_check`; an unknown one is a :class:`ReportScopeError`).
    """
    aws = aws_scope_check(account=aws_account, ou=aws_ou)
    name = ""
    if engagement_id is not None:
        include_privacy_register = _engagement_shares_privacy_register(engagement_id)
        try:
            window, frameworks, name = engagement_scope(engagement_id=engagement_id)
        except EngagementUnavailable as exc:
            raise ReportScopeError(f"engagement {engagement_id}: {exc}") from None
        keys = [f.key for f in frameworks]
        if framework_key is None:
            if len(frameworks) != 1:
                raise ReportScopeError(
                    f"engagement {engagement_id} covers {', '.join(keys) or 'no framework'}: "
                    "choose one with --framework"
                )
            framework_key = keys[0]
        elif framework_key not in keys:
            raise ReportScopeError(
                f"engagement {engagement_id} does not cover {framework_key} "
                f"(it covers {', '.join(keys) or 'no framework'})"
            )
        start = max(start or window.start, window.start)
        end = min(end or window.end, window.end)
    if not framework_key:
        raise ReportScopeError("a framework is required (e.g. soc2-2017)")
    framework = Framework.objects.filter(key=framework_key).first()
    if framework is None:
        loaded = ", ".join(Framework.objects.order_by("key").values_list("key", flat=True))
        raise ReportScopeError(
            f"framework {framework_key!r} is not loaded (loaded: {loaded or 'none'}; "
            "run manage.py load_catalogs)"
        )
    default = period_default()
    if start is None and end is None:
        period = default
    else:
        end = end or timezone.now().date()
        start = start or (end - (default.end - default.start))
        period = Period(start, end)
    if period.end < period.start:
        raise ReportScopeError(f"the period ends ({period.end}) before it starts ({period.start})")
    return ReportScope(framework, period, engagement_id, name, bool(include_privacy_register), *aws)


def _engagement_shares_privacy_register(engagement_id: int) -> bool:
    """The engagement's ``include_privacy_register`` (False when it cannot be read)."""
    from django.apps import apps

    try:
        model = apps.get_model("audits", "Engagement")
    except LookupError:
        return False
    row = model.objects.filter(pk=engagement_id).values_list("include_privacy_register").first()
    return bool(row and row[0])


def report_create(*, scope: ReportScope, created_by: Any = None) -> Report:
    return Report.objects.create(
        framework=scope.framework,
        period_start=scope.period.start,
        period_end=scope.period.end,
        engagement_id=scope.engagement_id,
        include_privacy_register=scope.include_privacy_register,
        aws_account=scope.aws_account,
        aws_ou=scope.aws_ou,
        aws_scope_label=scope.aws_scope_label,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def report_request(*, scope: ReportScope, created_by: Any = None) -> Report:
    """Create a report and enqueue its rendering on the ``reports`` queue (ids only)."""
    report = report_create(scope=scope, created_by=created_by)
    django_rq.get_queue(REPORTS_QUEUE).enqueue(
        REPORT_RENDER_JOB, report.pk, job_id=f"report-{report.pk}"
    )
    return report


def _progress(report_id: int, percent: int, message: str) -> None:
    Report.objects.filter(pk=report_id).update(progress=percent, progress_message=message[:200])


def report_data_for(*, report: Report, now: datetime | None = None) -> ReportData:
    """The data of ``report``: from its evidence pin once rendered, else read afresh.

    Raises ``PinnedEvidenceMissing`` when pinned evidence is no longer stored.
    """
    name = ""
    if report.engagement_id is not None:
        try:
            name = engagement_scope(engagement_id=report.engagement_id)[2]
        except EngagementUnavailable:
            name = ""
    return report_data(
        framework=report.framework,
        period=Period(report.period_start, report.period_end),
        now=now,
        engagement_id=report.engagement_id,
        engagement_name=name,
        pin=report_evidence_pin(report=report),
        include_privacy_register=report.include_privacy_register,
        aws_account=report.aws_account,
        aws_ou=report.aws_ou,
        aws_scope_label=report.aws_scope_label,
    )


def report_render(*, report_id: int, job_id: str = "") -> Report:
    """Render a queued report, store its PDF and record its SHA-256 (the job's body).

    A report already running or finished is returned unchanged (a duplicate delivery of the
    job does nothing). Failures are recorded on the row; the message names no secret.
    """
    claimed = Report.objects.filter(pk=report_id, status=ReportStatus.QUEUED).update(
        status=ReportStatus.RUNNING,
        started_at=timezone.now(),
        progress=1,
        progress_message="Reading evidence",
        job_id=job_id,
    )
    report = Report.objects.select_related("framework").get(pk=report_id)
    if not claimed:
        return report
    try:
        data = report_data_for(report=report)
        _progress(report_id, 25, "Composing the report")
        rendered = report_pdf(data, progress=lambda p, m: _progress(report_id, p, m))
        _progress(report_id, 95, "Storing the PDF")
        name = report_pdf_save(report=report, pdf=rendered.data)
    except Exception as exc:
        logger.exception("report %s failed", report_id)
        Report.objects.filter(pk=report_id).update(
            status=ReportStatus.FAILED,
            finished_at=timezone.now(),
            error_message=f"{type(exc).__name__}: {exc}"[:2000],
        )
        report.refresh_from_db()
        return report
    return report_mark_succeeded(
        report=report,
        file_path=name,
        pdf=rendered.data,
        page_count=rendered.pages,
        pin=data.pin(),
    )


def report_pdf_save(*, report: Report, pdf: bytes) -> str:
    """Store ``pdf`` as ``report``'s file in the default storage; returns the stored name.

    Written atomically: a full or read-only disk fails the report and leaves no partial PDF.
    """
    return file_save_atomic(f"reports/{report.pk}/{report.filename}", pdf)


@transaction.atomic
def report_mark_succeeded(
    *,
    report: Report,
    file_path: str,
    pdf: bytes,
    page_count: int,
    pin: EvidencePin,
) -> Report:
    """Record the stored PDF (name, SHA-256, size) and the evidence ``pin`` the PDF was
    rendered from, and mark ``report`` succeeded (one transaction)."""
    ids = sorted(pin.evidence_ids)
    ReportEvidencePin.objects.create(
        report=report,
        as_of=pin.as_of,
        evidence_ids=ids,
        evidence_count=len(ids),
        evidence_sha256=hashlib.sha256(canonical_bytes(ids)).hexdigest(),
        aws_excluded_connections=(list(pin.aws_excluded) if pin.aws_excluded is not None else None),
    )
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.SUCCEEDED,
        finished_at=timezone.now(),
        progress=100,
        progress_message="Done",
        file_path=file_path,
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
        page_count=page_count,
        chain_head_seq=pin.chain_head_seq,
        chain_head_hash=pin.chain_head_hash,
    )
    report.refresh_from_db()
    return report


def report_render_now(*, scope: ReportScope, created_by: Any = None) -> Report:
    """Create and render a report in this process (commands, demo)."""
    report = report_create(scope=scope, created_by=created_by)
    return report_render(report_id=report.pk)


def report_log_details(report: Report, **extra: Any) -> dict[str, Any]:
    """What the audit log records about a report (its downloads, its request)."""
    return {
        "report_id": report.pk,
        "framework": report.framework.key,
        "period": {"start": report.period_start.isoformat(), "end": report.period_end.isoformat()},
        "engagement_id": report.engagement_id,
        "include_privacy_register": report.include_privacy_register,
        # One AWS account or OU the report is limited to (None: every account).
        "aws_scope": report.aws_scope_log,
        **extra,
    }


def report_pdf_bytes(*, report: Report) -> bytes:
    if report.status != ReportStatus.SUCCEEDED or not report.file_path:
        raise ValueError(f"report {report.pk} has no PDF yet (status {report.status})")
    with default_storage.open(report.file_path, "rb") as fh:
        return fh.read()


def report_pdf_watermarked(*, report: Report, viewer_label: str) -> bytes:
    """The stored PDF stamped with ``viewer_label`` and the time (auditor downloads).

    The stamp is laid over the stored bytes, so the content is exactly what the recorded
    SHA-256 covers; the stamp names that digest so a copy can be traced back.
    """
    pdf = report_pdf_bytes(report=report)
    if not report.watermark_downloads:
        return pdf
    stamp_time = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Downloaded by {viewer_label}", stamp_time]
    if report.watermark_text:
        lines.append(report.watermark_text)
    lines.append(f"report {report.pk} · sha256 {report.sha256[:16]}")
    return pdf_watermark(pdf, lines=lines)


def pack_build(
    *, report: Report, fileobj: IO[bytes], progress=None, report_pdf: bytes | None = None
) -> PackResult:
    """Write the evidence pack of a rendered report into ``fileobj`` (streamed).

    The pack belongs to the report: its evidence is the report's pin (never evidence
    collected after the render) and its ``report.pdf`` the report's stored PDF, checked
    against the recorded SHA-256. ``report_pdf``: a stamped copy of that PDF to pack instead
    (auditor downloads). Raises :class:`PackUnavailable` with a message a user can act on.
    """
    if report.status != ReportStatus.SUCCEEDED or not report.file_path:
        raise PackUnavailable(f"report {report.pk} has no PDF yet (status {report.status})")
    if report_evidence_pin(report=report) is None:
        raise PackUnavailable(
            f"report {report.pk} was rendered before reports recorded the evidence they were "
            "rendered from, so its pack cannot be rebuilt exactly: render the report again"
        )
    try:
        data = report_data_for(report=report)
    except PinnedEvidenceMissing as exc:
        raise PackUnavailable(f"report {report.pk}: {exc}") from None
    return pack_write(
        fileobj=fileobj,
        data=data,
        report_pdf_path=report.file_path,
        report_id=report.pk,
        report_sha256=report.sha256,
        progress=progress,
        report_pdf=report_pdf,
    )


@dataclass
class BuiltPack:
    """An evidence pack written to an anonymous temporary file, rewound, ready to stream."""

    file: IO[bytes]
    sha256: str
    size: int
    result: PackResult
    filename: str


def pack_build_tempfile(
    *, report: Report, progress=None, report_pdf: bytes | None = None
) -> BuiltPack:
    """Build ``report``'s pack into a temporary file and hash it (memory stays flat).

    The caller streams ``file`` (e.g. with ``FileResponse``, which closes it); the file has no
    name on disk, so it disappears when closed. ``sha256`` is the digest of the ZIP itself,
    for the audit log.
    """
    tmp = tempfile.TemporaryFile(prefix="pixaudit-pack-")
    try:
        result = pack_build(report=report, fileobj=tmp, progress=progress, report_pdf=report_pdf)
        tmp.seek(0)
        digest = hashlib.sha256()
        size = 0
        while chunk := tmp.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
        tmp.seek(0)
    except BaseException:
        tmp.close()
        raise
    name = report.filename.removesuffix(".pdf") + "-evidence-pack.zip"
    return BuiltPack(file=tmp, sha256=digest.hexdigest(), size=size, result=result, filename=name)


def oscal_export(*, scope: ReportScope) -> tuple[dict, dict]:
    """``(catalog, assessment_results)`` documents; evidence hrefs use the pack's paths."""
    data = report_data(
        framework=scope.framework,
        period=scope.period,
        engagement_id=scope.engagement_id,
        engagement_name=scope.engagement_name,
        include_privacy_register=scope.include_privacy_register,
        aws_account=scope.aws_account,
        aws_ou=scope.aws_ou,
        aws_scope_label=scope.aws_scope_label,
    )
    catalog = oscal.catalog_document(framework=scope.framework, now=data.generated_at)
    results = oscal.assessment_results_document(data=data, evidence_paths=evidence_pack_paths(data))
    return catalog, results
