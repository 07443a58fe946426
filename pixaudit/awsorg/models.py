"""One AWS integration: every AWS collector, for one account or a whole organisation.

An :class:`AwsIntegration` holds the credentials (encrypted like a connection's secrets),
which collectors are switched on, and in organisation mode the member role to assume and
the account rules. Each (account, collector) pair it collects is an ordinary evidence
``Connection`` (:class:`AwsAccountConnection` links them; the connection is disabled so the
scheduler never runs it on its own): evidence, freshness, current state and run failures
stay per collector and per account exactly as for any connection, and two accounts can
never overwrite each other's results. A run of the integration
(:class:`AwsIntegrationRun`) lists the accounts, then fans out one job per account
(:class:`AwsAccountRun`) on the ``collect`` queue.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IntegrationMode(models.TextChoices):
    ACCOUNT = "account", "One account"
    ORGANIZATION = "organization", "AWS Organization (every member account)"


class AwsIntegration(models.Model):
    """The integration's configuration; change it through ``services``."""

    name = models.CharField(max_length=100, unique=True)
    mode = models.CharField(max_length=16, choices=IntegrationMode.choices)
    #: Keys of the enabled AWS collectors (the per-collector switch).
    collectors = models.JSONField(default=list)
    #: Non-secret AWS params: profile, role_arn, external_id, regions.
    params = models.JSONField(default=dict, blank=True)
    #: access_key_id / secret_access_key / session_token, AES-GCM tokens.
    secrets = models.JSONField(default=dict, blank=True)
    member_role_name = models.CharField(max_length=200, blank=True, default="pixaudit-readonly")
    member_external_id = models.CharField(max_length=200, blank=True, default="")
    #: include_ids, exclude_ids, include_ous, exclude_ous (lists); include_tags,
    #: exclude_tags ({key: value or "*"}).
    account_rules = models.JSONField(default=dict, blank=True)
    schedule_minutes = models.PositiveIntegerField(default=1440)
    #: How many accounts of one run collect at once, over all workers (0: no limit but the
    #: number of workers; each worker runs one account or account x region job at a time).
    max_parallel_accounts = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_probe = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AwsAccount(models.Model):
    """An account the integration's last listing saw (organisation mode: every member)."""

    integration = models.ForeignKey(
        AwsIntegration, on_delete=models.CASCADE, related_name="accounts"
    )
    account_id = models.CharField(max_length=12)
    name = models.CharField(max_length=200, blank=True, default="")
    ou = models.CharField(max_length=100, blank=True, default="")
    #: Ids of the OUs above the account, nearest first (from the listing's OU walk).
    ous = models.JSONField(default=list, blank=True)
    #: The OU path by name from the root, e.g. ``Root/prod/web`` (``""``: not in an OU).
    ou_path = models.CharField(max_length=1000, blank=True, default="")
    status = models.CharField(max_length=32, default="ACTIVE")
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "account_id"], name="awsorg_account_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.name}".strip()


class AwsAccountConnection(models.Model):
    """The evidence connection collecting one collector in one account of an integration."""

    integration = models.ForeignKey(
        AwsIntegration, on_delete=models.CASCADE, related_name="connections"
    )
    account_id = models.CharField(max_length=12)
    collector_key = models.CharField(max_length=100)
    #: The one region this connection collects (per-region jobs); ``""``: every region the
    #: integration names, or a global collector.
    region = models.CharField(max_length=32, blank=True, default="")
    connection = models.OneToOneField(
        "evidence.Connection", on_delete=models.CASCADE, related_name="aws_integration_link"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "account_id", "collector_key", "region"],
                name="awsorg_conn_region_once",
            )
        ]
        indexes = [models.Index(fields=["account_id"], name="awsorg_conn_account_idx")]

    def __str__(self) -> str:
        return f"{self.integration_id}/{self.account_id}/{self.collector_key}"


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with failed accounts"
    FAILED = "failed", "Failed"


FINAL_STATES = (RunState.SUCCEEDED, RunState.PARTIAL, RunState.FAILED)


class AwsIntegrationRun(models.Model):
    """One run of an integration: the account listing, then one job per account."""

    integration = models.ForeignKey(AwsIntegration, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunState.choices, default=RunState.QUEUED)
    trigger = models.CharField(max_length=16, default="manual")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    job_id = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    accounts_total = models.PositiveIntegerField(default=0)
    #: [{id, name, status}] of suspended or closed accounts set aside.
    suspended = models.JSONField(default=list, blank=True)
    #: [{id, name, reason}] of accounts the rules excluded.
    excluded = models.JSONField(default=list, blank=True)
    #: API calls of the listing itself, per action.
    api_call_counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]

    def __str__(self) -> str:
        return f"AWS integration run {self.pk} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status not in FINAL_STATES


class AwsAccountRun(models.Model):
    """One job of a run and its progress: the account's global (and account-wide) collectors
    (``region == ""``), or its region-scoped collectors in one region (per-region jobs)."""

    run = models.ForeignKey(AwsIntegrationRun, on_delete=models.CASCADE, related_name="accounts")
    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32, blank=True, default="")
    #: The collectors this job runs (keys), fixed when the run lists the accounts.
    collectors = models.JSONField(default=list, blank=True)
    #: When the job was handed to the queue (``None``: waiting for a slot under the
    #: integration's ``max_parallel_accounts``).
    pushed_at = models.DateTimeField(null=True, blank=True)
    account_name = models.CharField(max_length=200, blank=True, default="")
    ou = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=16, choices=RunState.choices, default=RunState.QUEUED)
    job_id = models.CharField(max_length=100, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    collectors_total = models.PositiveSmallIntegerField(default=0)
    collectors_done = models.PositiveSmallIntegerField(default=0)
    collectors_failed = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(blank=True, default="")
    api_calls = models.PositiveIntegerField(default=0)
    peak_rss_kib = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["account_id", "region"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "account_id", "region"], name="awsorg_account_region_run_once"
            )
        ]

    def __str__(self) -> str:
        where = f" {self.region}" if self.region else ""
        return f"account {self.account_id}{where} of run {self.run_id} ({self.status})"
