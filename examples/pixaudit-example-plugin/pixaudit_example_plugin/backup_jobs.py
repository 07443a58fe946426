"""Backup jobs from a backup server's JSON report (an example pixaudit plugin collector)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.schema import format_datetime

KEY = "example_backup_jobs"
RECENT_SUCCESS = f"{KEY}.recent_success"
ENCRYPTED = f"{KEY}.encrypted"
RETENTION = f"{KEY}.retention"


@register
class ExampleBackupJobsCollector(Collector):
    """Backup jobs of a backup server, read from its JSON status report.

    Collected: one row per job of the report at ``report_url`` (``GET``, with
    ``Authorization: Bearer <api_token>`` when a token is configured). The report is a JSON
    object whose ``jobs`` list holds objects with ``name``, ``target``, ``last_success_at``
    (ISO-8601, ``null`` when the job never succeeded), ``encryption.enabled`` and
    ``retention_days``. A job reported with an ``error`` (the server could not read its
    repository) is a partial failure: its ``recent_success`` finding becomes ERROR. The token
    needs only the read-only ``backup:ReadReport`` scope.

    Findings name a job ``<server>/<job name>`` (``resource``; the server is the report URL's
    host and port): job names are unique on one server only, and two connections to two
    backup servers must never report the same resource.

    Example row: ``backup.example/postgres-prod``, target ``s3://acme-backups/postgres``, last
    success 2024-05-31 23:10 UTC (6.8 hours before collection), encrypted, 35 days of
    retention; it passes all three assertions.
    """

    key = KEY
    title = "Backup jobs (example plugin)"
    version = 2
    params = (
        Param(
            "report_url",
            "string",
            required=True,
            help="URL of the backup server's JSON report, e.g. https://backup.example/api/report.",
            destination=True,
        ),
        Param(
            "api_token",
            "string",
            secret=True,
            help="Read-only API token sent as a Bearer token (leave empty for open reports).",
        ),
    )
    permissions = ("backup:ReadReport",)
    columns = (
        Column("resource", "string", "<server>/<job name>: the job, named across servers."),
        Column("job_name", "string", "Name of the backup job, unique on the server."),
        Column("target", "string", "Where the job writes its backups (repository or bucket)."),
        Column("last_success_at", "datetime", "End of the last successful run (null: never)."),
        Column(
            "hours_since_success", "float", "Hours from the last success to the collection time."
        ),
        Column("encrypted", "boolean", "Whether backups are encrypted (null: not reported)."),
        Column("retention_days", "integer", "How many days backups are kept (null: unknown)."),
    )
    resource_column = "resource"
    max_age = timedelta(hours=12)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Fetch the report and return one row per job, sorted by job name."""
        url = ctx.params["report_url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CollectorError(f"report_url must be an http(s) URL, not {url!r}", permanent=True)
        headers = {"Accept": "application/json"}
        token = ctx.params.get("api_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        ctx.identity = f"{parts.hostname} ({'api token' if token else 'anonymous'})"
        ctx.record_call("backup:ReadReport")
        report = ctx.http_json("GET", url, headers=headers)
        jobs = report.get("jobs") if isinstance(report, dict) else None
        if not isinstance(jobs, list):
            raise CollectorError(
                f"unexpected report from {parts.hostname}: no 'jobs' list", permanent=True
            )
        # host[:port] without any user info: the server's name in every resource
        server = parts.netloc.rpartition("@")[2].lower()
        rows = list(self._rows(ctx, jobs, server))
        ctx.logger.info("read %d backup jobs from %s", len(rows), parts.hostname)
        return sorted(rows, key=lambda row: row["job_name"])

    def _rows(
        self, ctx: CollectionContext, jobs: list[Any], server: str
    ) -> Iterator[dict[str, Any]]:
        now = ctx.now()
        for index, job in enumerate(jobs):
            if not isinstance(job, dict) or not job.get("name"):
                raise CollectorError(f"jobs[{index}] has no name", permanent=True)
            name = str(job["name"])
            if job.get("error"):
                ctx.error(
                    f"backup server could not read job {name}: {job['error']}",
                    action="backup:ReadReport",
                    resource=f"{server}/{name}",
                    assertions=(RECENT_SUCCESS,),
                )
            last_success = job.get("last_success_at")
            hours = None
            if last_success:
                try:
                    last_success = format_datetime(last_success)
                except (TypeError, ValueError):
                    raise CollectorError(
                        f"jobs[{index}] ({name}): last_success_at {last_success!r} is not "
                        "an ISO-8601 time",
                        permanent=True,
                    ) from None
                age = now - datetime.fromisoformat(last_success.replace("Z", "+00:00"))
                hours = round(age.total_seconds() / 3600, 2)
            encryption = job.get("encryption")
            yield {
                "resource": f"{server}/{name}",
                "job_name": name,
                "target": job.get("target"),
                "last_success_at": last_success,
                "hours_since_success": hours,
                "encrypted": encryption.get("enabled") if isinstance(encryption, dict) else None,
                "retention_days": job.get("retention_days"),
            }
            ctx.progress(index + 1, len(jobs), name)

    @assertion(
        RECENT_SUCCESS,
        title="Every backup job succeeded recently",
        severity=Severity.HIGH,
        remediation="Investigate the failing job in the backup tool, fix it and run it again; "
        "an empty report means no backups are configured at all.",
        controls=("soc2-2017:A1.2", "iso27001-2022:A.8.13"),
        rationale="Backups that actually complete on schedule are the backup and recovery "
        "infrastructure of A1.2 and the regular backup copies required by A.8.13.",
        params=(
            Param(
                "max_hours",
                "integer",
                default=26,
                help="Hours since the last success before a job fails (daily jobs plus slack).",
            ),
        ),
        per="table",
    )
    def recent_success(rows: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Outcome]:
        """Each job must have succeeded within ``max_hours``; a report without jobs fails."""
        if not rows:
            yield Outcome(Status.FAIL, "The backup server reports no backup jobs.", "*")
            return
        limit = params["max_hours"]
        for row in rows:
            name, hours, job = row["job_name"], row["hours_since_success"], row["resource"]
            if hours is None:
                yield Outcome(Status.FAIL, f"{name} has never succeeded.", job)
            elif hours <= limit:
                yield Outcome(Status.PASS, f"{name} succeeded {hours:g} hours ago.", job)
            else:
                yield Outcome(
                    Status.FAIL,
                    f"{name} last succeeded {hours:g} hours ago (limit {limit} hours).",
                    job,
                )

    @assertion(
        ENCRYPTED,
        title="Backups are encrypted",
        severity=Severity.HIGH,
        remediation="Enable repository encryption for the job (client-side, with a key kept "
        "outside the backup target) and take a new full backup.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
        rationale="Backups hold copies of production data; encrypting them is a logical access "
        "safeguard (CC6.1) and a use of cryptography to protect information (A.8.24).",
    )
    def encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """Each job must encrypt its backups; an unreported setting is a WARN."""
        name = row["job_name"]
        if row["encrypted"] is None:
            return Outcome(Status.WARN, f"The report does not say whether {name} is encrypted.")
        if row["encrypted"]:
            return Outcome(Status.PASS, f"{name} writes encrypted backups.")
        return Outcome(Status.FAIL, f"{name} writes unencrypted backups to {row['target']}.")

    @assertion(
        RETENTION,
        title="Backups are kept long enough",
        severity=Severity.MEDIUM,
        remediation="Raise the job's retention to at least the required number of days.",
        controls=("soc2-2017:A1.2", "iso27001-2022:A.8.13"),
        rationale="A restore is only possible from copies still retained: retention is part "
        "of the backup policy of A.8.13 and of the recovery infrastructure of A1.2.",
        params=(Param("min_days", "integer", default=30, help="Minimum retention in days."),),
    )
    def retention(row: dict[str, Any], params: dict[str, Any]) -> tuple[Status, str]:
        """Each job must keep backups for at least ``min_days``."""
        name, days, limit = row["job_name"], row["retention_days"], params["min_days"]
        if days is None:
            return Status.WARN, f"The report does not give the retention of {name}."
        if days >= limit:
            return Status.PASS, f"{name} keeps backups for {days} days."
        return Status.FAIL, f"{name} keeps backups for {days} days (minimum {limit} days)."
