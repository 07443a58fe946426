"""Evidence pack builds: asked for on a page, built by a job, served from storage.

A page never builds a pack itself: :func:`pack_build_request` records a :class:`PackBuild`
and enqueues the ``reports`` job (``jobs.pack_build_run``, by its dotted path), then the page
answers at once and polls the build's status. The job (:func:`pack_build_execute`) writes
the ZIP with :func:`services.pack_build` (same contents as before: the report's pinned
evidence and its stored PDF, stamped for the requester on engagement pages) to a temporary
file, hashes it, stores it in the default storage and records its size and SHA-256. A build
that cannot be made is failed with a sentence a user can act on, and is built again with
:func:`pack_build_retry`.

In server mode the job runs on an RQ worker; in the embedded default on the web process's
worker threads (``pixaudit.lib.embedded_worker``); in command-line tools and the test suite
in the process that asks, once its transaction commits.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import datetime, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from pixaudit.auditlog.services import audit_log_record
from pixaudit.reports.models import PackAudience, PackBuild, PackBuildStatus, Report
from pixaudit.reports.packs import PackUnavailable
from pixaudit.reports.services import (
    REPORTS_QUEUE,
    pack_build,
    report_pdf_watermarked,
)

logger = logging.getLogger(__name__)

#: The build job by dotted path: RQ imports it when it runs, this module never does.
PACK_BUILD_JOB = "pixaudit.reports.jobs.pack_build_run"
ACTIVE = (PackBuildStatus.QUEUED, PackBuildStatus.RUNNING)


def pack_build_request(
    *, report: Report, requested_by: Any, audience: str, viewer_label: str = ""
) -> tuple[PackBuild, bool]:
    """Record a build of ``report``'s pack and queue it; ``(build, queued)``.

    The same person's build of the same pack still queued or running is returned instead
    (``queued`` False), so a double click builds once. ``viewer_label`` is what the stamped
    PDF of an engagement build names (ignored for internal builds).
    """
    if audience not in PackAudience.values:
        raise ValueError(f"unknown pack audience {audience!r}")
    with transaction.atomic():
        Report.objects.select_for_update().filter(pk=report.pk).first()  # one at a time
        active = (
            PackBuild.objects.filter(report=report, audience=audience, status__in=ACTIVE)
            .filter(requested_by=requested_by if getattr(requested_by, "pk", None) else None)
            .first()
        )
        if active is not None:
            return active, False
        build = PackBuild.objects.create(
            report=report,
            engagement_id=report.engagement_id,
            audience=audience,
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
            viewer_label=viewer_label if audience == PackAudience.ENGAGEMENT else "",
            progress_message="Waiting for a worker",
        )
        _enqueue(build)
    return build, True


def pack_build_retry(*, build: PackBuild, requested_by: Any) -> tuple[PackBuild, bool]:
    """Build a failed build's pack again (a new build; the failed one stays as it was)."""
    if build.status != PackBuildStatus.FAILED:
        raise ValueError(f"pack build {build.pk} has not failed (status {build.status})")
    new, queued = pack_build_request(
        report=build.report, requested_by=requested_by, audience=build.audience,
        viewer_label=build.viewer_label,
    )  # fmt: skip
    if queued:
        PackBuild.objects.filter(pk=new.pk).update(retry_of=build)
        new.retry_of = build
    return new, queued


def _enqueue(build: PackBuild) -> None:
    # django-rq enqueues after the surrounding transaction commits (RQ["COMMIT_MODE"]).
    job_id = f"pack-build-{build.pk}"
    PackBuild.objects.filter(pk=build.pk).update(job_id=job_id)
    build.job_id = job_id
    django_rq.get_queue(REPORTS_QUEUE).enqueue(PACK_BUILD_JOB, build.pk, job_id=job_id)


def _progress(build_id: int, percent: int, message: str) -> None:
    PackBuild.objects.filter(pk=build_id, status=PackBuildStatus.RUNNING).update(
        progress=max(1, min(percent, 99)), progress_message=message[:200]
    )


def _fail(build_id: int, message: str) -> PackBuild:
    PackBuild.objects.filter(pk=build_id).update(
        status=PackBuildStatus.FAILED, finished_at=timezone.now(), error_message=message[:2000]
    )
    return PackBuild.objects.get(pk=build_id)


def pack_build_execute(*, build_id: int, job_id: str = "") -> PackBuild:
    """Build one queued pack and store it (the job's body); a build already claimed by
    another delivery of the job is returned unchanged."""
    claimed = PackBuild.objects.filter(pk=build_id, status=PackBuildStatus.QUEUED).update(
        status=PackBuildStatus.RUNNING,
        started_at=timezone.now(),
        progress=1,
        progress_message="Reading the report's evidence",
        **({"job_id": job_id} if job_id else {}),
    )
    build = PackBuild.objects.select_related("report__framework").get(pk=build_id)
    if not claimed:
        return build
    report = build.report
    try:
        stamped = None
        if build.audience == PackAudience.ENGAGEMENT and report.watermark_downloads:
            _progress(build_id, 3, "Stamping the PDF for " + (build.viewer_label or "the viewer"))
            stamped = report_pdf_watermarked(report=report, viewer_label=build.viewer_label)
        with tempfile.TemporaryFile(prefix="pixaudit-pack-") as tmp:
            result = pack_build(
                report=report, fileobj=tmp, report_pdf=stamped,
                progress=lambda p, m: _progress(build_id, p, m),
            )  # fmt: skip
            _progress(build_id, 95, "Storing the pack")
            tmp.seek(0)
            digest, size = hashlib.sha256(), 0
            while chunk := tmp.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
            tmp.seek(0)
            filename = report.filename.removesuffix(".pdf") + "-evidence-pack.zip"
            stored = default_storage.save(f"packs/{report.pk}/{build.pk}/{filename}", File(tmp))
    except PackUnavailable as exc:
        return _fail(build_id, f"The evidence pack cannot be built: {exc}.")
    except OSError as exc:
        logger.exception("pack build %s could not be stored", build_id)
        reason = exc.strerror or str(exc) or type(exc).__name__
        return _fail(
            build_id,
            f"The evidence pack could not be written to storage ({reason}): check free disk "
            "space and that the storage is writable, then build it again.",
        )
    except Exception as exc:
        logger.exception("pack build %s failed", build_id)
        return _fail(
            build_id,
            "The evidence pack could not be built because of an internal error "
            f"({type(exc).__name__}: {str(exc)[:300]}). Build it again; if it fails again, "
            "give this message to your administrator.",
        )
    PackBuild.objects.filter(pk=build_id).update(
        status=PackBuildStatus.SUCCEEDED,
        finished_at=timezone.now(),
        progress=100,
        progress_message="Ready",
        file_path=stored,
        filename=filename,
        size=size,
        sha256=digest.hexdigest(),
        manifest_sha256=result.manifest_sha256,
    )
    build.refresh_from_db()
    return build


def pack_build_open(*, build: PackBuild):
    """The stored ZIP of a succeeded build, opened for reading (the caller closes it).

    Raises :class:`PackUnavailable` when the build has no file (not done) or the stored file
    no longer matches its recorded size.
    """
    if build.status != PackBuildStatus.SUCCEEDED or not build.file_path:
        raise PackUnavailable(f"pack build {build.pk} is not ready (status {build.status})")
    if build.swept_at is not None:
        raise PackUnavailable(pack_build_swept_message(build))
    try:
        size = default_storage.size(build.file_path)
    except OSError:
        raise PackUnavailable(
            f"the stored pack of build {build.pk} is missing: build the pack again"
        ) from None
    if size != build.size:
        raise PackUnavailable(
            f"the stored pack of build {build.pk} changed since it was built: build it again"
        )
    return default_storage.open(build.file_path, "rb")


def pack_build_log_details(build: PackBuild, **extra: Any) -> dict[str, Any]:
    """What the audit log records about a build's download (with the report's details)."""
    report = build.report
    return {
        "report_id": report.pk,
        "framework": report.framework.key,
        "period": {"start": report.period_start.isoformat(), "end": report.period_end.isoformat()},
        "engagement_id": report.engagement_id,
        # The pack is the report's: limited to the AWS account or OU the report is.
        "aws_scope": report.aws_scope_log,
        "pack_build_id": build.pk,
        "sha256": build.sha256,
        "size": build.size,
        "manifest_sha256": build.manifest_sha256,
        "report_sha256": report.sha256,
        **extra,
    }


def pack_build_status_payload(build: PackBuild, *, download_url: str, retry_url: str) -> dict:
    """The JSON the build page polls."""
    done = build.status == PackBuildStatus.SUCCEEDED
    return {
        "id": build.pk,
        "status": build.status,
        "status_label": build.get_status_display(),
        "active": build.active,
        "progress": build.progress,
        "progress_message": build.progress_message,
        "error_message": build.error_message,
        "size": build.size,
        "sha256": build.sha256,
        "download_url": download_url if done and build.swept_at is None else "",
        "retry_url": retry_url if build.status == PackBuildStatus.FAILED else "",
        "swept_at": build.swept_at.isoformat() if build.swept_at else None,
        "swept_message": pack_build_swept_message(build) if build.swept_at else "",
    }


# --- retention ----------------------------------------------------------------------------


def pack_build_retention_days() -> int:
    """Days a build's stored ZIP is kept (``PIXAUDIT_PACK_RETENTION_DAYS``, 30 by default)."""
    return int(settings.PIXAUDIT_PACK_RETENTION_DAYS)


def pack_build_swept_message(build: PackBuild) -> str:
    """What a page says about a build whose file the retention sweep removed."""
    when = build.swept_at.strftime("%Y-%m-%d") if build.swept_at else "?"
    return (
        f"the file of build {build.pk} was removed on {when} by the retention policy (builds "
        f"are kept {pack_build_retention_days()} days, the latest one of each pack always): "
        "build the pack again to download it"
    )


def _scope(build: dict[str, Any]) -> tuple[Any, ...]:
    # Managers share a report's internal builds; an engagement build carries the PDF stamped
    # for its requester, who alone (among auditors) may download it: one scope each.
    requester = build["requested_by_id"] if build["audience"] == PackAudience.ENGAGEMENT else None
    return (build["report_id"], build["audience"], requester)


def pack_builds_kept() -> set[int]:
    """Ids of the latest successful build of each scope (never swept, whatever its age)."""
    latest: dict[tuple[Any, ...], int] = {}
    rows = (
        PackBuild.objects.filter(status=PackBuildStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .values("pk", "report_id", "audience", "requested_by_id")
    )
    for row in rows.iterator():
        latest.setdefault(_scope(row), row["pk"])
    return set(latest.values())


def pack_builds_sweep(*, now: datetime | None = None) -> list[int]:
    """Remove the stored ZIPs of builds older than the retention; return the swept build ids.

    A build is swept when it succeeded, finished more than ``PIXAUDIT_PACK_RETENTION_DAYS``
    ago, is not the latest successful build of its scope (a report's internal builds; an
    engagement build per requester) and still has its file. Each build is swept in its own
    transaction, its row locked: the file is deleted (a file already gone is fine), the row
    gets ``swept_at`` and the audit log ``pack.swept`` (who asked for it, its path, size and
    digests). A file the storage refuses to delete is logged and left for the next sweep.
    The build's row stays, so its page says the file was removed and offers a new build.
    """
    now = now or timezone.now()
    days = pack_build_retention_days()
    kept = pack_builds_kept()
    candidates = (
        PackBuild.objects.filter(
            status=PackBuildStatus.SUCCEEDED,
            swept_at__isnull=True,
            finished_at__lt=now - timedelta(days=days),
        )
        .exclude(file_path="")
        .exclude(pk__in=kept)
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    swept: list[int] = []
    for build_id in list(candidates):
        try:
            with transaction.atomic():
                build = (
                    PackBuild.objects.select_for_update(of=("self",))
                    .select_related("report", "requested_by")
                    .filter(pk=build_id, swept_at__isnull=True)
                    .first()
                )
                if build is None:
                    continue
                default_storage.delete(build.file_path)  # a missing file is no error
                PackBuild.objects.filter(pk=build_id).update(swept_at=now)
                audit_log_record(
                    action="pack.swept", obj=build.report, pack_build_id=build.pk,
                    audience=build.audience, engagement_id=build.engagement_id,
                    requested_by=build.requested_by.get_username() if build.requested_by
                    else None,
                    file_path=build.file_path, size=build.size, sha256=build.sha256,
                    manifest_sha256=build.manifest_sha256,
                    finished_at=build.finished_at.isoformat(), retention_days=days,
                )  # fmt: skip
        except OSError:
            logger.exception("pack build %s: the stored file could not be removed", build_id)
            continue
        swept.append(build_id)
    return swept
