"""Reads of the exceptions register: filters, deadlines, rows for pages, exports and reports.

Deadlines: ``PIXAUDIT_EXCEPTION_DEADLINE_DAYS`` (severity -> days, env-driven; info has
none). An exception is past its deadline when it is still open after ``opened_at`` + days,
or closed after that instant. Exceptions of the assertions in
``collectors.vulnerabilities.DEADLINE_JUDGED_ASSERTIONS`` (vulnerability scanners judged
against the same severity deadlines, counted from when the scanner first saw the finding)
fail only once that deadline has passed: their deadline is ``opened_at`` itself, so the
register and the collector's verdict agree. Status: ``accepted`` while an approved
acceptance is in force (not revoked, ``expires_on`` today or later), else ``open`` or
``closed``. Accepted exceptions are excluded from monitoring: never counted open nor past
deadline.

Controls are the assertion's effective mappings (collector declarations plus overrides, as
posture uses them), read when the register is read. Every list selector runs a fixed number
of queries whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from collectors.vulnerabilities import DEADLINE_JUDGED_ASSERTIONS
from pixaudit.accounts.models import User
from pixaudit.controls.models import Control, Framework
from pixaudit.controls.selectors import effective_mappings
from pixaudit.exceptions.acceptances import accepted_failures
from pixaudit.exceptions.models import AcceptanceStatus, ExceptionAcceptance, ExceptionRecord
from pixaudit.posture.models import ControlOwner
from pixaudit.posture.selectors import assertion_catalog

__all__ = [
    "STATUSES",
    "accepted_failures",
    "ExceptionFilters",
    "ExceptionRow",
    "deadline_days",
    "exception_get",
    "exception_list",
    "exception_rows",
    "exception_rows_stream",
    "exceptions_for_period",
]

STATUSES = ("open", "closed", "accepted")
SEVERITIES = ("critical", "high", "medium", "low", "info")


def deadline_days() -> dict[str, int]:
    """severity -> remediation deadline in days (severities without one are absent)."""
    return dict(getattr(settings, "PIXAUDIT_EXCEPTION_DEADLINE_DAYS", {}))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _accepted_now(today: date) -> Exists:
    return Exists(
        ExceptionAcceptance.objects.filter(
            exception=OuterRef("pk"), status=AcceptanceStatus.APPROVED, expires_on__gte=today
        )
    )


def _deadline_expr() -> Case:
    whens = [When(assertion_id__in=sorted(DEADLINE_JUDGED_ASSERTIONS), then=F("opened_at"))]
    whens += [
        When(severity=severity, then=F("opened_at") + Value(timedelta(days=days)))
        for severity, days in deadline_days().items()
    ]
    return Case(*whens, default=Value(None), output_field=DateTimeField())


@dataclass
class ExceptionFilters:
    """What the register page and exports filter by (all optional)."""

    status: str = ""
    severity: str = ""
    control: Control | None = None
    past_deadline: bool = False
    since: date | None = None  # overlapping [since, until] (UTC days, inclusive)
    until: date | None = None
    #: Only exceptions of assertions mapped to these frameworks (auditors: the engagement's).
    frameworks: list[Framework] | None = None


def exception_list(
    *, filters: ExceptionFilters | None = None, now: datetime | None = None
) -> QuerySet[ExceptionRecord]:
    """Exceptions matching ``filters``, newest first, annotated with ``deadline_at`` and
    ``accepted`` (an acceptance in force)."""
    filters = filters or ExceptionFilters()
    now = now or timezone.now()
    # Only the related names are shown: leave connections' params and secrets unread.
    record_fields = [f.attname for f in ExceptionRecord._meta.concrete_fields]
    qs = ExceptionRecord.objects.select_related("connection", "owner").only(
        *record_fields, "connection__name", "owner__username"
    )
    qs = qs.annotate(deadline_at=_deadline_expr(), accepted=_accepted_now(now.date()))
    if filters.frameworks is not None or filters.control is not None:
        mappings = effective_mappings()
        wanted: set[str] = set()
        framework_ids = {f.pk for f in filters.frameworks or ()}
        control_ids = set(
            Control.objects.filter(framework_id__in=framework_ids).values_list("pk", flat=True)
        )
        for assertion_id, ids in mappings.items():
            if filters.frameworks is not None and not ids & control_ids:
                continue
            if filters.control is not None and filters.control.pk not in ids:
                continue
            wanted.add(assertion_id)
        qs = qs.filter(assertion_id__in=sorted(wanted))
    if filters.status == "open":
        qs = qs.filter(closed_at__isnull=True, accepted=False)
    elif filters.status == "closed":
        qs = qs.filter(closed_at__isnull=False)
    elif filters.status == "accepted":
        qs = qs.filter(accepted=True)
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.past_deadline:
        qs = qs.filter(accepted=False, deadline_at__isnull=False).filter(
            Q(closed_at__isnull=True, deadline_at__lt=now) | Q(closed_at__gt=F("deadline_at"))
        )
    if filters.since is not None:
        qs = qs.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=_day_start(filters.since)))
    if filters.until is not None:
        qs = qs.filter(opened_at__lt=_day_start(filters.until + timedelta(days=1)))
    return qs.order_by("-opened_at", "-id")


def exception_get(*, pk: int) -> ExceptionRecord:
    return exception_list().get(pk=pk)


@dataclass
class ExceptionRow:
    """One exception as pages, exports and reports show it."""

    record: ExceptionRecord
    controls: list[Control] = field(default_factory=list)
    owner: User | None = None
    owner_is_default: bool = False
    acceptance: ExceptionAcceptance | None = None
    now: datetime | None = None
    assertion_title: str = ""

    @property
    def pk(self) -> int:
        return self.record.pk

    @property
    def status(self) -> str:
        if self.acceptance is not None:
            return "accepted"
        return "closed" if self.record.closed_at else "open"

    @property
    def duration(self) -> timedelta:
        end = self.record.closed_at or self.now
        return end - self.record.opened_at

    @property
    def duration_days(self) -> float:
        return round(self.duration.total_seconds() / 86400, 1)

    @property
    def deadline_at(self) -> datetime | None:
        if self.record.assertion_id in DEADLINE_JUDGED_ASSERTIONS:
            return self.record.opened_at  # the FAIL itself means "past the deadline"
        days = deadline_days().get(self.record.severity)
        return None if days is None else self.record.opened_at + timedelta(days=days)

    @property
    def past_deadline(self) -> bool:
        deadline = self.deadline_at
        if deadline is None or self.acceptance is not None:
            return False
        return (self.record.closed_at or self.now) > deadline

    @property
    def deadline_label(self) -> str:
        if self.deadline_at is None:
            return "no deadline"
        if self.acceptance is not None:
            return "accepted"
        return "past deadline" if self.past_deadline else "within deadline"

    @property
    def control_addresses(self) -> list[str]:
        return [c.address for c in self.controls]


class _RowContext:
    """What turns ExceptionRecords into ExceptionRows: mapped controls, their owners, the
    acceptances in force, assertion titles (read once, then no query per row)."""

    def __init__(
        self,
        mappings: dict[str, set[int]],
        control_ids: set[int],
        exception_ids: set[int] | None,
        now: datetime,
    ):
        self.now = now
        self.mappings = mappings
        self.controls = {
            c.pk: c
            for c in Control.objects.filter(pk__in=control_ids)
            .select_related("framework")
            .order_by("framework__key", "sort_order")
        }
        self.owners = {
            row.control_id: row.owner
            for row in ControlOwner.objects.filter(control_id__in=control_ids).select_related(
                "owner"
            )
        }
        # Acceptances in force are few: read them all rather than name thousands of ids.
        self.active: dict[int, ExceptionAcceptance] = {}
        in_force = ExceptionAcceptance.objects.filter(
            status=AcceptanceStatus.APPROVED, expires_on__gte=now.date()
        )
        if exception_ids is not None and len(exception_ids) <= 1000:
            in_force = in_force.filter(exception_id__in=exception_ids)
        in_force = in_force.select_related("requested_by", "decided_by").order_by("decided_at")
        for acceptance in in_force:
            if exception_ids is None or acceptance.exception_id in exception_ids:
                self.active[acceptance.exception_id] = acceptance
        self.order = {pk: i for i, pk in enumerate(self.controls)}
        self.catalog = assertion_catalog()

    def row(self, record: ExceptionRecord) -> ExceptionRow:
        own = sorted(
            (
                self.controls[c]
                for c in self.mappings.get(record.assertion_id, ())
                if c in self.controls
            ),
            key=lambda c: self.order[c.pk],
        )
        owner, default = record.owner, False
        if owner is None:
            owner = next((self.owners[c.pk] for c in own if c.pk in self.owners), None)
            default = owner is not None
        title = self.catalog.get(record.assertion_id, {}).get("title", "")
        return ExceptionRow(
            record, own, owner, default, self.active.get(record.pk), self.now, title
        )


def exception_rows(
    records: list[ExceptionRecord] | QuerySet[ExceptionRecord], *, now: datetime | None = None
) -> list[ExceptionRow]:
    """Rows with mapped controls, remediation owner (explicit, else the owner of the first
    owned mapped control) and the acceptance in force (three queries for any number)."""
    now = now or timezone.now()
    records = list(records)
    mappings = effective_mappings()
    wanted = {cid for r in records for cid in mappings.get(r.assertion_id, ())}
    context = _RowContext(mappings, wanted, {r.pk for r in records}, now)
    return [context.row(record) for record in records]


#: Exceptions read per query when a list is streamed (exports).
STREAM_CHUNK = 2000


def exception_rows_stream(
    qs: QuerySet[ExceptionRecord], *, now: datetime | None = None, chunk_size: int | None = None
) -> Iterator[ExceptionRow]:
    """The rows of ``qs`` (an :func:`exception_list`, newest first) one by one, read in
    chunks of ``chunk_size`` by keyset (``opened_at``, ``id``): memory stays bounded and the
    query count is fixed plus one per chunk (never one per row); ``chunk_size`` defaults to
    ``STREAM_CHUNK``."""
    now = now or timezone.now()
    chunk_size = chunk_size or STREAM_CHUNK
    mappings = effective_mappings()
    control_ids = {cid for ids in mappings.values() for cid in ids}
    context = _RowContext(mappings, control_ids, None, now)
    qs = qs.order_by("-opened_at", "-id")
    last: tuple[datetime, int] | None = None
    while True:
        chunk_qs = qs
        if last is not None:
            opened_at, pk = last
            chunk_qs = qs.filter(Q(opened_at__lt=opened_at) | Q(opened_at=opened_at, pk__lt=pk))
        chunk = list(chunk_qs[:chunk_size])
        for record in chunk:
            yield context.row(record)
        if len(chunk) < chunk_size:
            return
        last = (chunk[-1].opened_at, chunk[-1].pk)


def exceptions_for_period(
    *,
    framework: Framework,
    since: datetime,
    until: datetime,
    up_to_seq: int | None = None,
    now: datetime | None = None,
) -> list[ExceptionRow]:
    """Exceptions of ``framework``'s assertions overlapping ``[since, until)``, oldest first.

    With ``up_to_seq`` (a report's pinned chain head) only exceptions opened by items up to
    that position count, and one closed by a later item is shown open, as it was then.
    """
    now = now or timezone.now()
    filters = ExceptionFilters(frameworks=[framework])
    qs = exception_list(filters=filters, now=now).filter(opened_at__lt=until)
    overlap = Q(closed_at__isnull=True) | Q(closed_at__gte=since)
    if up_to_seq is not None:
        overlap |= Q(end_seq__gt=up_to_seq)
        qs = qs.filter(start_seq__lte=up_to_seq)
    qs = qs.filter(overlap)
    records = list(qs.order_by("opened_at", "id"))
    if up_to_seq is not None:
        for record in records:
            if record.end_seq is not None and record.end_seq > up_to_seq:
                record.closed_at = record.end_evidence_id = record.end_seq = None
                record.end_reason = ""
    return exception_rows(records, now=min(now, until))


def filters_from_query(params: Any) -> tuple[ExceptionFilters, dict[str, str]]:
    """Filters from a query dict, and the errors of values that could not be read (the page
    shows them; a bad value filters nothing rather than everything)."""
    from pixaudit.controls.selectors import control_get_by_address

    errors: dict[str, str] = {}
    filters = ExceptionFilters()
    status = (params.get("status") or "").strip()
    if status and status not in STATUSES:
        errors["status"] = f"Unknown status “{status}”."
    else:
        filters.status = status
    severity = (params.get("severity") or "").strip()
    if severity and severity not in SEVERITIES:
        errors["severity"] = f"Unknown severity “{severity}”."
    else:
        filters.severity = severity
    address = (params.get("control") or "").strip()
    if address:
        try:
            filters.control = control_get_by_address(address)
        except (Control.DoesNotExist, ValueError):
            errors["control"] = f"No control “{address[:80]}” (write it as soc2-2017:CC6.1)."
    filters.past_deadline = params.get("past_deadline") in ("1", "on", "yes", "true")
    for name in ("since", "until"):
        raw = (params.get(name) or "").strip()
        if raw:
            try:
                setattr(filters, name, date.fromisoformat(raw))
            except ValueError:
                errors[name] = f"“{raw[:20]}” is not a date (YYYY-MM-DD)."
    if filters.since and filters.until and filters.since > filters.until:
        errors["until"] = "The end of the range is before its start."
    return filters, errors


def owners_by_exception(rows: list[ExceptionRow]) -> dict[int, User | None]:
    return {row.pk: row.owner for row in rows}


def acceptance_history(*, exception: ExceptionRecord) -> QuerySet[ExceptionAcceptance]:
    return exception.acceptances.select_related("requested_by", "decided_by", "revoked_by")


def exceptions_summary(rows: list[ExceptionRow]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
        if row.past_deadline:
            counts["past_deadline"] += 1
    return dict(counts)
