"""Connections, collection runs, and the append-only evidence store.

History (``EvidenceItem``, ``Finding``) is append-only: ``save()`` of an existing row,
``delete()``, and queryset ``update()``/``delete()`` raise here, and on PostgreSQL a trigger
rejects UPDATE and DELETE as well (migration 0002). ``LatestResult`` is the small "current
state" table posture reads; it is rewritten in the same transaction as each ingest.
Business logic lives in ``services``; these classes only describe the data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

#: How many times a transiently failing run is attempted in total (job layer reads it).
MAX_ATTEMPTS = 3

#: ``prev_chain_hash`` of the first item of the chain.
GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove evidence history through the ORM."""

    def __init__(self, model: str):
        super().__init__(f"pixaudit: evidence is append-only ({model} rows cannot change)")


class FindingStatus(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    WARN = "warn", "Warn"
    ERROR = "error", "Error"


class FindingSeverity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"


class Connection(models.Model):
    """A configured collector: which collector, its params, its encrypted secrets, schedule.

    ``params`` holds only non-secret values; ``secrets`` maps a secret param's name to an
    AES-GCM token (see ``crypto``). Create and change connections with the services, which
    validate against the collector's declared params.
    """

    name = models.CharField(max_length=200, unique=True)
    collector_key = models.CharField(max_length=100, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(
        default=dict, blank=True, help_text="Assertion threshold overrides: {assertion: {param: v}}"
    )
    schedule_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Run every N minutes; empty = derive from max_age."
    )
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who last changed it through the services (the audit log keeps every change).
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual"
    CLI = "cli", "Command line"
    PUSH = "push", "Pushed by API"


class CollectionRun(models.Model):
    """One attempt to collect: its state, timings, counts and a user-actionable error.

    A run without a connection (``manage.py collect --params``) keeps its own validated
    params and encrypted secrets. ``error_message`` never holds a traceback or a secret.
    """

    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    collector_key = models.CharField(max_length=100, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(default=dict, blank=True)
    # The thresholds in force when the run was created (a connection may change later).
    thresholds = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_count = models.PositiveIntegerField(default=0)
    findings_pass = models.PositiveIntegerField(default=0)
    findings_fail = models.PositiveIntegerField(default=0)
    findings_warn = models.PositiveIntegerField(default=0)
    findings_error = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")
    error_permanent = models.BooleanField(default=False)
    # What kind of failure (collectors.ErrorKind or a runner kind, pixaudit.evidence.
    # run_errors): pages turn it into advice a user can act on; the message is the detail.
    error_kind = models.CharField(max_length=32, blank=True, default="")
    # Who owns the run. A queued run is owned either by a process (``worker`` set: a foreground
    # ``collect``, or the in-process queue of the embedded default) or by an RQ job (``job_id``
    # set when it was handed to Redis at ``enqueued_at``); a queued run with neither is waiting
    # for ``retry_at``. A running run records the process executing it.
    job_id = models.CharField(max_length=100, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="", help_text="host:pid")
    worker_started = models.CharField(
        max_length=64, blank=True, default="", help_text="The worker process's start token."
    )
    enqueued_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a lost job was handed to the queue again."
    )
    # A retry: the attempt it follows, and when it is due (the scheduler tick enqueues it).
    retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retry"
    )
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            # One connection never has two active runs: the database refuses the second one
            # even if two schedulers race past the application-level check.
            models.UniqueConstraint(
                fields=["connection"],
                condition=Q(status__in=["queued", "running"]),
                name="evidence_one_active_run_per_connection",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"], name="evidence_run_status_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} {self.collector_key} ({self.status})"

    @property
    def should_retry(self) -> bool:
        """True when the run failed transiently and has attempts left."""
        return (
            self.status == RunStatus.FAILED
            and not self.error_permanent
            and self.attempt < MAX_ATTEMPTS
        )

    @property
    def findings_total(self) -> int:
        return self.findings_pass + self.findings_fail + self.findings_warn + self.findings_error


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk ``update()``/``delete()`` are refused: history is never rewritten by the app."""

    def update(self, **kwargs):  # noqa: D401
        raise AppendOnlyError(self.model.__name__)

    def delete(self):
        raise AppendOnlyError(self.model.__name__)

    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(type(self).__name__)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(type(self).__name__)


class EvidenceItem(AppendOnlyModel):
    """One stored collection: a content-addressed canonical JSON artifact, linked in a chain.

    ``chain_hash`` is computed by the formula of ``digest_version`` (see ``integrity``): 1
    for items written before version 2 existed, 2 (which covers every field below but
    ``created_at``) for new ones. ``seq`` is the item's position, 1-based and gap-free.
    """

    run = models.ForeignKey(CollectionRun, on_delete=models.PROTECT, related_name="evidence")
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    collector_key = models.CharField(max_length=100)
    collector_version = models.PositiveIntegerField()
    pixaudit_version = models.CharField(max_length=32)
    collected_at = models.DateTimeField()
    effective_at = models.DateTimeField(help_text="When the activity this proves happened.")
    expires_at = models.DateTimeField()
    row_count = models.PositiveIntegerField()
    findings_count = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    artifact_path = models.CharField(max_length=300)
    size = models.PositiveBigIntegerField()
    findings_digest = models.CharField(max_length=64)
    seq = models.BigIntegerField(unique=True)
    prev_chain_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64, unique=True)
    # Items written before digest version 2 existed are version 1; new ones are written with
    # integrity.DIGEST_VERSION explicitly.
    digest_version = models.PositiveSmallIntegerField(default=1)
    provenance = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["collector_key", "collected_at"], name="evidence_item_key_idx"),
            models.Index(fields=["connection", "collected_at"], name="evidence_item_conn_idx"),
            models.Index(fields=["effective_at"], name="evidence_item_effective_idx"),
        ]

    def __str__(self) -> str:
        return f"evidence seq={self.seq} {self.collector_key}"


class Finding(AppendOnlyModel):
    """History: the result of one assertion for one resource in one evidence item."""

    evidence = models.ForeignKey(EvidenceItem, on_delete=models.PROTECT, related_name="findings")
    # Neither index nor database constraint on run: findings are reached through evidence
    # (whose run is constrained), and each would cost a per-row check on every ingest.
    run = models.ForeignKey(
        CollectionRun,
        on_delete=models.PROTECT,
        related_name="findings",
        db_index=False,
        db_constraint=False,
    )
    assertion_id = models.CharField(max_length=200)
    resource = models.TextField()
    status = models.CharField(max_length=8, choices=FindingStatus.choices)
    severity = models.CharField(max_length=8, choices=FindingSeverity.choices)
    message = models.TextField()
    thresholds = models.JSONField(default=dict)
    controls = models.JSONField(default=list)
    collected_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["assertion_id", "collected_at"], name="evidence_finding_aid_idx"),
            models.Index(fields=["resource"], name="evidence_finding_res_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.assertion_id} {self.resource}: {self.status}"


class LatestResult(models.Model):
    """Current state: the latest status of each (assertion, resource) *per connection*.

    Kept by the ingest in the same transaction as each append; posture and the dashboard
    read this small table instead of scanning history. A row is keyed by its connection too
    (two partial unique indexes: one for rows of a connection, one for rows without), so a
    connection can never overwrite what another one reported about a resource of the same
    name, and adding a connection can only add results. Rows of a connection's resources
    that a later successful run no longer sees are removed.

    Two kinds of rows (a check constraint keeps exactly one of ``evidence``/``run`` set):

    - *result rows* (``evidence`` set): the latest finding of one assertion for one resource,
      derived from ``Finding`` history (``pixaudit.evidence.current_state`` rebuilds them).
    - *run-failure rows* (``run`` set, resource :data:`RUN_FAILED_RESOURCE`): the
      connection's last collection failed for good (permanent, or retries exhausted) after
      its last stored evidence. One ERROR row per assertion of its collector keeps every
      control it proves from passing until a run of that connection succeeds (whose ingest
      sweeps them). Derived from ``CollectionRun``; never evidence, never chained.
    """

    assertion_id = models.CharField(max_length=200)
    resource = models.TextField()
    collector_key = models.CharField(max_length=100)
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=8, choices=FindingStatus.choices)
    severity = models.CharField(max_length=8, choices=FindingSeverity.choices)
    message = models.TextField()
    controls = models.JSONField(default=list)
    # No index: rows are found by (assertion, resource) or source; every ingest rewrites this
    # column, and an index on it would make each of those updates a non-HOT update.
    evidence = models.ForeignKey(
        EvidenceItem,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    # The failed run of a run-failure row (null on result rows); rarely set, never indexed.
    run = models.ForeignKey(
        CollectionRun,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    collected_at = models.DateTimeField()
    first_seen_at = models.DateTimeField()
    last_changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assertion_id", "resource", "connection"],
                condition=Q(connection__isnull=False),
                name="evidence_latest_unique_conn",
            ),
            models.UniqueConstraint(
                fields=["assertion_id", "resource"],
                condition=Q(connection__isnull=True),
                name="evidence_latest_unique_noconn",
            ),
            models.CheckConstraint(
                condition=Q(evidence__isnull=False, run__isnull=True)
                | Q(evidence__isnull=True, run__isnull=False),
                name="evidence_latest_evidence_xor_run",
            ),
        ]
        indexes = [
            models.Index(fields=["collector_key", "connection"], name="evidence_latest_src_idx"),
            # The scheduler looks for run-failure rows on every tick: a tiny partial index
            # (no ingest writes run_id, so updates of result rows stay HOT).
            models.Index(
                fields=["connection"],
                condition=Q(run__isnull=False),
                name="evidence_latest_failed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assertion_id} {self.resource}: {self.status}"

    @property
    def is_run_failure(self) -> bool:
        """A run-failure row: the connection's last collection failed (see the class doc)."""
        return self.run_id is not None


#: Resource of run-failure rows: every resource the connection proves (see ``LatestResult``).
RUN_FAILED_RESOURCE = "(last collection failed)"


class ChainHead(models.Model):
    """Singleton (pk=1): the lock every append takes, and a pointer to the chain's head.

    ``select_for_update`` on this row serialises appends on PostgreSQL; on SQLite the write
    transaction does. ``verify_evidence`` checks it against the last item, which detects a
    removed tail.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    chain_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"chain head seq={self.seq}"


class ChainCheckpoint(AppendOnlyModel):
    """The index of the signed checkpoints of the chain head written to the artifact store.

    The signed file in the store (``name``) is the evidence; this row only says when the
    last one was written (cadence) and lets ``verify_evidence`` notice a file that was
    deleted from the store. See ``pixaudit.evidence.checkpoints``.
    """

    seq = models.BigIntegerField()
    chain_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    name = models.CharField(max_length=300, unique=True)
    key_fingerprint = models.CharField(max_length=64)
    locked_until = models.DateTimeField(
        null=True, blank=True, help_text="S3 Object Lock retention, when the store has one."
    )

    class Meta:
        ordering = ["-seq", "-created_at"]
        indexes = [models.Index(fields=["created_at"], name="evidence_checkpoint_time_idx")]

    def __str__(self) -> str:
        return f"checkpoint seq={self.seq} at {self.created_at:%Y-%m-%d %H:%M}"


class ManualKind(models.TextChoices):
    POLICY = "policy", "Policy document"
    PENTEST = "pentest", "Penetration test report"
    DPA = "dpa", "Data processing agreement"
    TRAINING = "training", "Training record"
    RESTORE_TEST = "restore_test", "Backup restore test"
    CERTIFICATION = "certification", "Certification or audit report"
    ISOLATION = "isolation", "Processing isolation attestation"
    NO_TRAINING = "no_training", "No training on customer data without consent"
    INCIDENT_RESPONSE = "incident_response", "Incident response plan or exercise"
    AI_SAFEGUARDS = "ai_safeguards", "AI model safeguards review"
    OTHER = "other", "Other"


class ManualRecurrence(models.TextChoices):
    NONE = "", "None (valid-until date)"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    YEARLY = "yearly", "Yearly"


class ManualEvidence(AppendOnlyModel):
    """An uploaded file (policy, pen test report, DPA, ...) and what it supports.

    Append-only and chained: each upload is one ``EvidenceItem`` (collector key ``manual``)
    whose canonical artifact names the file's SHA-256, so the chain covers the file too. The
    file itself is stored content-addressed (``evidence/manual/sha256/...``). A newer upload
    for the same controls supersedes an older one by date, never by editing it.
    ``effective_on`` is when the activity happened; ``valid_until`` when the proof lapses
    (given, or derived from ``recurrence``). See ``pixaudit.evidence.services.manual``.
    """

    evidence = models.OneToOneField(EvidenceItem, on_delete=models.PROTECT, related_name="manual")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=32, choices=ManualKind.choices, default=ManualKind.OTHER)
    file_name = models.CharField(max_length=160, help_text="Sanitised original name.")
    content_type = models.CharField(max_length=100, help_text="Sniffed from the bytes.")
    size = models.PositiveBigIntegerField()
    file_sha256 = models.CharField(max_length=64)
    file_path = models.CharField(max_length=300)
    effective_on = models.DateField(help_text="When the activity this proves happened.")
    valid_until = models.DateField(db_index=True)
    recurrence = models.CharField(
        max_length=16, choices=ManualRecurrence.choices, blank=True, default=""
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()
    control_addresses = models.JSONField(default=list)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return f"manual evidence {self.title!r} (valid until {self.valid_until})"


class ManualEvidenceControl(AppendOnlyModel):
    """Which controls an upload supports (the queryable form of ``control_addresses``)."""

    manual = models.ForeignKey(
        ManualEvidence, on_delete=models.PROTECT, related_name="control_links"
    )
    control = models.ForeignKey(
        "controls.Control", on_delete=models.PROTECT, related_name="manual_links"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["manual", "control"], name="evidence_manual_control")
        ]

    def __str__(self) -> str:
        return f"manual {self.manual_id} supports control {self.control_id}"


class ManualRequirement(models.Model):
    """A control flagged as needing current manual evidence (e.g. an annual pen test).

    Such a control is "manual pending" while no unexpired ``ManualEvidence`` supports it,
    even before anything was ever uploaded (see ``pixaudit.posture.selectors``).
    """

    control = models.OneToOneField(
        "controls.Control", on_delete=models.CASCADE, related_name="manual_requirement"
    )
    reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"manual evidence required for control {self.control_id}"
