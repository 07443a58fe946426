"""Data-subject requests of the app's register: received, due and completed dates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Severity,
    Status,
    assertion,
    register,
)

_KEY = "privacy_requests"
_CONTROLS = ("soc2-2017:P5.1", "soc2-2017:P5.2", "iso27001-2022:A.5.34")
_RATIONALE = (
    "Data subjects get access to (P5.1) and correction of (P5.2) their personal information "
    "within the committed time; privacy and protection of PII (A.5.34) includes answering "
    "their rights requests. The policy promises an answer within 30 days."
)
#: Row statuses: completed, open (not yet due) and overdue (open past due_on at the snapshot).
STATUSES = ("completed", "open", "overdue")


@register
class PrivacyRequestsCollector(Collector):
    """Data-subject requests (access, erasure, ...) as recorded in pixaudit's own register.

    Declaration only (an app register, ``app_register = True``): the rows come from the
    register of the ``pixaudit.privacy`` app, which snapshots it into one evidence item after
    each change and daily (``privacy_evidence_refresh``). It has no connection: it is not
    offered on the connections page, never scheduled, and "Run now", the API and
    ``manage.py collect`` refuse it, saying where the rows come from. No API is called, so
    no permission is needed.

    Personal data is minimal: a request is named by its short external reference (a ticket
    number), never by the data subject or the request's content; notes and completion files
    stay out of the evidence. ``status`` is ``completed``, ``open`` or ``overdue`` (open past
    ``due_on`` on the snapshot's day); ``due_on`` is the received date plus the deadline in
    force when the request was recorded (``PIXAUDIT_DSR_DUE_DAYS``, 30 by default).

    Example row: ``DSR-2026-014``, erasure, received 2026-03-02, due 2026-04-01, completed
    2026-03-20 (18 days): it passes both checks.
    """

    key = _KEY
    title = "Data-subject requests (register)"
    version = 1
    permissions = ()
    columns = (
        Column("reference", "string", "Short external reference of the request (the resource)."),
        Column("kind", "string", "access, rectification, erasure, portability, objection, "
               "restriction."),
        Column("received_on", "date", "When the request was received."),
        Column("due_on", "date", "The deadline (received_on + the configured days)."),
        Column("completed_on", "date", "When it was completed (null: open)."),
        Column("status", "string", "completed, open, or overdue (open past due_on)."),
        Column("days_to_complete", "integer", "completed_on - received_on in days (null: open)."),
    )  # fmt: skip
    resource_column = "reference"
    max_age = timedelta(days=1)
    app_register = True
    recorded_in = "the data-subject request register (Privacy requests, /privacy-requests/)"

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Never pulled: the rows are the app's register, snapshotted by the app itself."""
        raise CollectorError(
            f"{self.key} cannot be collected: its rows come from {self.recorded_in}, which "
            "records them as evidence after each change and daily",
            permanent=True,
        )

    @assertion(
        f"{_KEY}.completed_on_time",
        title="Each completed data-subject request was completed by its deadline",
        severity=Severity.HIGH,
        remediation="Answer requests before their due date: verify identity early, assign an "
        "owner on receipt, and review the open requests weekly.",
        controls=_CONTROLS,
        rationale=_RATIONALE,
    )
    def completed_on_time(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Completed: PASS when completed_on <= due_on, else FAIL; open requests: no verdict."""
        if not row["completed_on"]:
            return None
        if not row["due_on"]:
            return Outcome(Status.ERROR, f"{row['reference']} has no due date.")
        if row["completed_on"] <= row["due_on"]:
            return Outcome(Status.PASS, f"Completed on {row['completed_on']}, due "
                           f"{row['due_on']} ({row['days_to_complete']} days).")  # fmt: skip
        return Outcome(Status.FAIL, f"Completed on {row['completed_on']}, after its due date "
                       f"{row['due_on']} ({row['days_to_complete']} days).")  # fmt: skip

    @assertion(
        f"{_KEY}.none_overdue",
        title="No data-subject request is open past its deadline",
        severity=Severity.HIGH,
        remediation="Complete the overdue request now, record the completion evidence, and "
        "tell the data subject why it was late.",
        controls=_CONTROLS,
        rationale=_RATIONALE,
    )
    def none_overdue(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """Overdue (open past due_on at the snapshot): FAIL; open in time or completed: PASS."""
        if row["status"] == "overdue":
            return Outcome(Status.FAIL, f"Open and past its due date {row['due_on']}.")
        if row["status"] == "completed":
            return Outcome(Status.PASS, f"Completed on {row['completed_on']}; not open.")
        if row["status"] == "open":
            return Outcome(Status.PASS, f"Open, due {row['due_on']}.")
        return Outcome(Status.ERROR, f"Unknown status {row['status']!r}.")
