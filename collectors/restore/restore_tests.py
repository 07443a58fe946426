"""Backup restore exercises: what was restored, whether it worked, and how long it took."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collectors import Column, Param, Severity, Status, assertion, register
from collectors.push import PushCollector

_CONTROLS = ("soc2-2017:A1.3", "iso27001-2022:A.8.13")
_RATIONALE = (
    "Recovery plan procedures are tested (A1.3) and backups are tested regularly "
    "(A.8.13); the policy commits to secure backup and disaster recovery."
)


@register
class RestoreTestsCollector(PushCollector):
    """Backup restore exercises pushed by API (``POST /api/v1/push/restore_tests/``).

    Pushed, never pulled: the job or the person running a restore exercise posts one row per
    restored system with the backup restored, start and end times, whether the restore
    succeeded, whether the restored data was verified, and the recovery time objective.
    No API is called, so no permission is needed. Evidence stays fresh for a quarter
    (``max_age`` 92 days), so a missed quarterly exercise shows as stale.

    The resource is ``system``, the restored system's globally unambiguous name (e.g. an RDS
    instance ARN or ``host:port/database``).

    Example row: ``arn:aws:rds:eu-west-1:123456789012:db:orders`` restored from the snapshot
    of 2026-03-01 in 42 minutes against an RTO of 240, data verified; it passes both checks.
    """

    key = "restore_tests"
    title = "Backup restore exercises (pushed)"
    version = 1
    permissions = ()
    columns = (
        Column("system", "string", "The restored system's unambiguous name (the resource)."),
        Column("backup", "string", "The backup or snapshot that was restored."),
        Column("started_at", "datetime", "When the restore started (UTC)."),
        Column("finished_at", "datetime", "When the restore finished (UTC)."),
        Column("succeeded", "boolean", "Whether the restore completed."),
        Column("data_verified", "boolean", "Whether the restored data was checked (counts, app)."),
        Column("restore_minutes", "float", "Time to restore, in minutes."),
        Column("rto_minutes", "float", "Recovery time objective of the system, in minutes."),
        Column("runbook_url", "string", "Link to the runbook or the exercise's record."),
        Column("notes", "string", "Free-form notes of the exercise."),
    )
    required_columns = ("system", "finished_at", "succeeded")
    resource_column = "system"
    max_age = timedelta(days=92)

    @assertion(
        "restore_tests.restore_succeeded",
        title="The restore exercise succeeded and the restored data was verified",
        severity=Severity.HIGH,
        remediation=(
            "Fix what made the restore fail, repeat the exercise, and verify the restored "
            "data (row counts, a smoke test of the application) before recording success."
        ),
        controls=_CONTROLS,
        rationale=_RATIONALE,
    )
    def restore_succeeded(row: dict[str, Any], params: dict[str, Any]):
        """Succeeded and verified: PASS; failed or not verified: FAIL; unknown: ERROR."""
        if not row["succeeded"]:
            return Status.FAIL, "The restore did not complete."
        if row["data_verified"] is None:
            return Status.ERROR, "The push did not say whether the restored data was verified."
        if not row["data_verified"]:
            return Status.FAIL, "The restore completed but the data was not verified."
        return Status.PASS, f"Restored from {row['backup'] or 'a backup'} and verified."

    @assertion(
        "restore_tests.within_rto",
        title="The restore finished within the recovery time objective",
        severity=Severity.MEDIUM,
        remediation=(
            "Speed up the restore (smaller or incremental backups, warm standby) or agree a "
            "realistic RTO with the system's owner and record it."
        ),
        controls=_CONTROLS,
        rationale=_RATIONALE,
        params=(
            Param(
                "default_rto_minutes",
                "float",
                default=240.0,
                help="RTO used when a row does not carry its own rto_minutes.",
            ),
        ),
    )
    def within_rto(row: dict[str, Any], params: dict[str, Any]):
        """``restore_minutes`` at most the row's ``rto_minutes`` (or the default RTO)."""
        minutes = row["restore_minutes"]
        if minutes is None and row["started_at"] and row["finished_at"]:
            # Coerced datetimes are UTC ISO-8601 strings ending in Z.
            started = datetime.fromisoformat(row["started_at"])
            minutes = (datetime.fromisoformat(row["finished_at"]) - started).total_seconds() / 60
        if minutes is None:
            return Status.ERROR, "The push gave neither restore_minutes nor start and end times."
        rto = (
            row["rto_minutes"] if row["rto_minutes"] is not None else params["default_rto_minutes"]
        )
        if minutes <= rto:
            return Status.PASS, f"Restored in {minutes:.0f} min (RTO {rto:.0f} min)."
        return Status.FAIL, f"Restored in {minutes:.0f} min, above the RTO of {rto:.0f} min."
