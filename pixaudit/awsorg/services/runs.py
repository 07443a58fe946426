"""Runs of an AWS integration: list the accounts, one job per account, per-account progress.

``aws_integration_run_start`` records a queued :class:`AwsIntegrationRun` and hands its
listing job to the ``collect`` queue. The listing job (:func:`aws_integration_run_discover`)
lists the organisation's accounts (or identifies the one account), applies the rules,
records the suspended and excluded ones on the run, and creates one
:class:`AwsAccountRun` per account, each handed to the ``collect`` queue as its own job, so
any number of workers share the accounts. Per-region jobs (:func:`job_plan`): when the
integration names two or more regions, each region-scoped collector (see
:func:`region_scoped`) runs in one job per account x region instead, on its own
(account, collector, region) connection; the account's job keeps the global and
account-wide collectors. ``max_parallel_accounts`` admits that many accounts at a time
(:func:`_admit`): the rest wait unqueued and each account that finishes admits the next. An
account job
(:func:`aws_account_run_execute`) runs every enabled collector in that account through the
ordinary runner on the (account, collector) connection, one after the other, keeping
nothing after each: memory stays flat in the number of accounts. A collector that fails
(role missing, access denied, throttled past the retries) fails its own run, which puts
ERROR rows on that account's connection only; the other collectors and accounts go on. The
last account to finish closes the integration run (under a row lock).

Jobs are named by dotted path (``pixaudit.awsorg.jobs``); this module never imports them.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from collectors import CollectorError
from collectors.aws._common import caller, partition_of
from collectors.aws._org import Account, list_accounts, member_role_arn, require_ok, select_accounts
from collectors.aws._sessions import account_sessions
from collectors.base import Collector
from pixaudit.auditlog.services import audit_log_record
from pixaudit.awsorg.models import (
    FINAL_STATES,
    AwsAccount,
    AwsAccountConnection,
    AwsAccountRun,
    AwsIntegration,
    AwsIntegrationRun,
    IntegrationMode,
    RunState,
)
from pixaudit.awsorg.services.config import (
    aws_collectors,
    aws_integration_context,
    aws_integration_rules,
    integration_secret_values,
)
from pixaudit.evidence.models import Connection, RunStatus, RunTrigger
from pixaudit.evidence.services.connections import decrypt_secrets, encrypt_secrets
from pixaudit.evidence.services.runs import (
    CollectionRunActive,
    collection_run_create,
    collection_run_execute,
)
from pixaudit.lib.processes import process_identity

__all__ = [
    "ACCOUNT_JOB",
    "JobPlan",
    "DISCOVER_JOB",
    "IntegrationRunActive",
    "LOST_ACCOUNT_MESSAGE",
    "aws_account_run_execute",
    "aws_account_runs_sweep",
    "aws_integration_run_discover",
    "aws_integration_run_start",
    "aws_integrations_enqueue_due",
    "job_plan",
    "region_scoped",
]

logger = logging.getLogger("pixaudit.awsorg")

QUEUE = "collect"
DISCOVER_JOB = "pixaudit.awsorg.jobs.aws_integration_run_discover"
ACCOUNT_JOB = "pixaudit.awsorg.jobs.aws_account_run_execute"


#: An account job whose worker died (kill -9, OOM, lost machine) or whose job Redis lost.
LOST_ACCOUNT_MESSAGE = "worker stopped during the account's collection"
#: How long a hand-over may take before a job missing from Redis counts as lost.
_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class JobPlan:
    """Which jobs one account gets: ``account`` collectors in the account's job, and, when
    ``regions`` is not empty, ``regional`` collectors in one job per region."""

    account: tuple[str, ...]
    regional: tuple[str, ...]
    regions: tuple[str, ...]

    def jobs(self) -> list[tuple[str, tuple[str, ...]]]:
        """``(region, collector keys)`` per job of one account (``""``: the account's job)."""
        jobs = [("", self.account)] if self.account else []
        return jobs + [(region, self.regional) for region in self.regions]


def region_scoped(cls: type[Collector]) -> bool:
    """Whether a collector can run one region at a time: it reads the ``regions`` param
    (declares ``ec2:DescribeRegions``) and judges every row on its own (no ``per="table"``
    assertion, which needs every region at once: CloudTrail's multi-region trail)."""
    return "ec2:DescribeRegions" in cls.permissions and all(
        a.per != "table" for a in cls.assertions
    )


def job_plan(integration: AwsIntegration) -> JobPlan:
    """The rule for per-region jobs: they pay when the integration names two or more
    regions (the regions' work is then spread over workers); with one region, or with the
    regions discovered per account (``regions`` unset), every collector runs in the
    account's job and discovers or uses its regions itself."""
    keys = sorted(integration.collectors)
    regions = tuple(sorted(set(integration.params.get("regions") or ())))
    if len(regions) < 2:
        return JobPlan(account=tuple(keys), regional=(), regions=())
    classes = {cls.key: cls for cls in aws_collectors()}
    regional = tuple(k for k in keys if k in classes and region_scoped(classes[k]))
    account = tuple(k for k in keys if k not in regional)
    return JobPlan(account=account, regional=regional, regions=regions if regional else ())


class IntegrationRunActive(Exception):
    """The integration already has a run that has not finished (``run``)."""

    def __init__(self, run: AwsIntegrationRun):
        self.run = run
        super().__init__(f"the integration already has an active run ({run})")


def _push(func: str, arg: int, job_id: str, timeout: int | None = None) -> None:
    queue = django_rq.get_queue(QUEUE)
    # This already runs after commit: skip django-rq's own on_commit deferral.
    enqueue = getattr(queue, "original_enqueue_call", queue.enqueue_call)
    try:
        enqueue(func, args=(arg,), job_id=job_id, timeout=timeout)
    except RedisError as exc:
        logger.warning("could not hand job %s to Redis: %s", job_id, exc)


def aws_integration_run_start(
    *, integration: AwsIntegration, trigger: str = "manual", user: Any = None
) -> AwsIntegrationRun:
    """Queue a run of the integration (its listing job goes to the ``collect`` queue on commit).

    Raises :class:`IntegrationRunActive` when a run of it has not finished yet.
    """
    with transaction.atomic():
        AwsIntegration.objects.select_for_update().get(pk=integration.pk)
        active = integration.runs.exclude(status__in=FINAL_STATES).first()
        if active is not None:
            raise IntegrationRunActive(active)
        run = AwsIntegrationRun.objects.create(
            integration=integration, trigger=trigger,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )  # fmt: skip
        run.job_id = f"pixaudit-awsrun-{run.pk}"
        run.save(update_fields=["job_id"])
        AwsIntegration.objects.filter(pk=integration.pk).update(
            next_run_at=timezone.now() + timedelta(minutes=integration.schedule_minutes)
        )
        if user is not None:
            audit_log_record(
                actor=user, action="aws_integration.run_requested", obj=integration, run=run.pk
            )
        transaction.on_commit(lambda: _push(DISCOVER_JOB, run.pk, run.job_id))
    return run


def aws_integrations_enqueue_due() -> list[AwsIntegrationRun]:
    """The scheduler's tick: sweep lost account jobs, then start every enabled integration
    whose ``next_run_at`` passed."""
    aws_account_runs_sweep()
    started = []
    due = AwsIntegration.objects.filter(enabled=True, next_run_at__lte=timezone.now())
    for integration in due:
        try:
            started.append(aws_integration_run_start(integration=integration, trigger="schedule"))
        except IntegrationRunActive:
            continue
    return started


def _claim_run(run_id: int) -> AwsIntegrationRun | None:
    claimed = AwsIntegrationRun.objects.filter(pk=run_id, status=RunState.QUEUED).update(
        status=RunState.RUNNING, started_at=timezone.now()
    )
    return (
        AwsIntegrationRun.objects.select_related("integration").get(pk=run_id) if claimed else None
    )


def _fail_run(run_id: int, message: str) -> None:
    AwsIntegrationRun.objects.filter(pk=run_id).exclude(status__in=FINAL_STATES).update(
        status=RunState.FAILED, finished_at=timezone.now(), error_message=message[:2000]
    )


def aws_integration_run_discover(*, run_id: int) -> AwsIntegrationRun:
    """The listing job: choose the accounts and hand one job per account to the queue."""
    run = _claim_run(run_id)
    if run is None:
        return AwsIntegrationRun.objects.get(pk=run_id)
    integration = run.integration
    ctx = aws_integration_context(integration)
    now = timezone.now()
    try:
        if integration.mode == IntegrationMode.ORGANIZATION:
            rules = aws_integration_rules(integration)
            client = ctx.aws_client("organizations", "us-east-1")
            selection = require_ok(
                select_accounts(
                    # The OU tree is always walked (a few calls per OU): the pages group
                    # and filter findings by OU.
                    list_accounts(client, with_ous=True, with_tags=rules.needs_tags),
                    rules,
                )
            )
            accounts = list(selection.included)
            seen = accounts + selection.suspended + [a for a, _ in selection.excluded]
            suspended = [{"id": a.id, "name": a.name, "status": a.status}
                         for a in selection.suspended]  # fmt: skip
            excluded = [{"id": a.id, "name": a.name, "reason": why}
                        for a, why in selection.excluded]  # fmt: skip
        else:
            account, _ = caller(ctx)
            accounts = seen = [Account(id=account)]
            suspended, excluded = [], []
    except CollectorError as exc:
        _fail_run(run.pk, ctx.redact(exc.message))
        return AwsIntegrationRun.objects.get(pk=run.pk)
    plan = job_plan(integration)
    with transaction.atomic():
        for account in seen:
            AwsAccount.objects.update_or_create(
                integration=integration, account_id=account.id,
                defaults={"name": account.name, "ou": account.ou, "ous": list(account.ous),
                          "ou_path": account.ou_path, "status": account.status,
                          "last_seen_at": now},
            )  # fmt: skip
        AwsAccountRun.objects.bulk_create(
            AwsAccountRun(
                run=run,
                account_id=account.id,
                account_name=account.name,
                ou=account.ou,
                region=region,
                collectors=list(keys),
                collectors_total=len(keys),
                job_id=_job_id(run.pk, account.id, region),
            )  # fmt: skip
            for account in accounts
            for region, keys in plan.jobs()
        )
        AwsIntegrationRun.objects.filter(pk=run.pk).update(
            accounts_total=len(accounts), suspended=suspended, excluded=excluded,
            api_call_counts=ctx.api_call_counts,
        )  # fmt: skip
        _admit(run.pk)
    return AwsIntegrationRun.objects.get(pk=run.pk)


def _job_id(run_id: int, account_id: str, region: str) -> str:
    suffix = f"-{region}" if region else ""
    return f"pixaudit-awsacct-{run_id}-{account_id}{suffix}"


def _admit(run_id: int) -> int:
    """Hand the jobs of as many waiting accounts to the queue as the integration's
    ``max_parallel_accounts`` allows (all when 0), on commit. Call inside a transaction;
    the run's row lock serialises admissions. Returns how many accounts were admitted."""
    run = AwsIntegrationRun.objects.select_for_update().get(pk=run_id)
    if run.status in FINAL_STATES:
        return 0
    limit = (
        AwsIntegration.objects.filter(pk=run.integration_id)
        .values_list("max_parallel_accounts", flat=True).first() or 0
    )  # fmt: skip
    rows = AwsAccountRun.objects.filter(run_id=run_id)
    waiting = list(
        rows.filter(pushed_at__isnull=True, status=RunState.QUEUED)
        .order_by("account_id").values_list("account_id", flat=True).distinct()
    )  # fmt: skip
    if not waiting:
        return 0
    if limit:
        busy = set(
            rows.filter(pushed_at__isnull=False).exclude(status__in=FINAL_STATES)
            .values_list("account_id", flat=True)
        )  # fmt: skip
        waiting = waiting[: max(0, limit - len(busy))]
    if not waiting:
        return 0
    admitted = rows.filter(account_id__in=waiting, pushed_at__isnull=True)
    jobs = list(admitted.order_by("account_id", "region").values_list("pk", "job_id", "collectors"))
    admitted.update(pushed_at=timezone.now())

    def push_all() -> None:
        for pk, job_id, keys in jobs:
            _push(ACCOUNT_JOB, pk, job_id, _job_timeout(len(keys)))

    transaction.on_commit(push_all)
    return len(waiting)


def _child_connection(
    integration: AwsIntegration, account_id: str, key: str, params: dict[str, Any],
    secrets: dict[str, str], region: str = "",
) -> Connection:  # fmt: skip
    """The (account, collector[, region]) connection, created on first use, kept in step
    with the integration's credentials and params. Disabled: only the integration schedules
    it."""
    where = {"integration": integration, "account_id": account_id, "collector_key": key,
             "region": region}  # fmt: skip
    link = AwsAccountConnection.objects.select_related("connection").filter(**where).first()
    if link is None:
        try:
            with transaction.atomic():
                label = " · ".join(filter(None, (integration.name, account_id, region, key)))
                conn = Connection.objects.create(
                    name=label[:200], collector_key=key,
                    params=params, enabled=False, created_by=integration.created_by,
                )  # fmt: skip
                conn.secrets = encrypt_secrets("connection", conn.pk, secrets)
                conn.save(update_fields=["secrets"])
                AwsAccountConnection.objects.create(**where, connection=conn)
                return conn
        except IntegrityError:  # another worker created it a moment ago
            link = AwsAccountConnection.objects.select_related("connection").get(**where)
    conn = link.connection
    if conn.params != params or decrypt_secrets("connection", conn.pk, conn.secrets) != secrets:
        conn.params = params
        conn.secrets = encrypt_secrets("connection", conn.pk, secrets)
        conn.save(update_fields=["params", "secrets", "updated_at"])
    return conn


def _child_params(
    integration: AwsIntegration, account_id: str, declared: set[str], partition: str,
    region: str = "",
) -> dict[str, Any]:  # fmt: skip
    params = dict(integration.params)
    if region:
        params["regions"] = [region]
    if integration.mode == IntegrationMode.ORGANIZATION:
        params["role_arn"] = member_role_arn(account_id, integration.member_role_name, partition)
        params.pop("external_id", None)
        if integration.member_external_id:
            params["external_id"] = integration.member_external_id
    return {k: v for k, v in sorted(params.items()) if k in declared}


def aws_account_run_execute(
    *, account_run_id: int, job_id: str = "", worker_name: str = ""
) -> AwsAccountRun:
    """The account job: the job's collectors in one account (and region), through the runner.

    Each collector is its own run on the (account, collector[, region]) connection: its
    evidence,
    its failure (ERROR rows for that connection only), its retry. Progress is written after
    each collector; the account's status is ``succeeded``, ``partial`` (some collectors
    failed) or ``failed`` (all did), with the distinct error messages.
    """
    # The RQ worker's name (which of the workers took the account), then this process.
    worker = " ".join(filter(None, (worker_name, process_identity()[0])))[:200]
    claimed = AwsAccountRun.objects.filter(pk=account_run_id, status=RunState.QUEUED).update(
        status=RunState.RUNNING, started_at=timezone.now(), worker=worker,
        job_id=job_id or f"in-process-{account_run_id}",
    )  # fmt: skip
    account_run = AwsAccountRun.objects.select_related("run__integration").get(pk=account_run_id)
    if not claimed:
        return account_run
    integration = account_run.run.integration
    trigger = RunTrigger.SCHEDULE if account_run.run.trigger == "schedule" else RunTrigger.MANUAL
    secrets = integration_secret_values(integration)
    classes = {cls.key: cls for cls in aws_collectors()}
    partition = partition_of(integration.params.get("role_arn") or "arn:aws:")
    messages: list[str] = []
    done = failed = calls = 0
    region = account_run.region
    keys = list(account_run.collectors) or sorted(integration.collectors)
    # One AssumeRole and one caller identity for all the account's collectors; nothing
    # of it is kept after the account (the cache is cleared on leaving the block).
    with account_sessions():
        for key in keys:
            cls = classes.get(key)
            if cls is None:
                failed += 1
                messages.append(f"collector {key} is not installed")
                continue
            declared = {p.name for p in cls.params}
            params = _child_params(integration, account_run.account_id, declared, partition, region)
            conn = _child_connection(
                integration, account_run.account_id, key, params, secrets, region
            )
            try:
                run = collection_run_create(connection=conn, trigger=trigger, foreground=True)
            except CollectionRunActive as exc:
                failed += 1
                messages.append(f"{key}: a run of it is still active ({exc.run})")
                continue
            run = collection_run_execute(run_id=run.pk, job_id=job_id)
            done += 1
            if run.status != RunStatus.SUCCEEDED:
                failed += 1
                text = f"{run.error_message}" if run.error_message else f"{key} {run.status}"
                if text not in messages:
                    messages.append(text)
            evidence = run.evidence.first() if run.status == RunStatus.SUCCEEDED else None
            if evidence is not None:
                calls += sum((evidence.provenance.get("api_call_counts") or {}).values())
            AwsAccountRun.objects.filter(pk=account_run.pk).update(
                collectors_done=done, collectors_failed=failed, api_calls=calls
            )
            del run, evidence
    total = len(keys)
    status = (
        RunState.SUCCEEDED if not failed else RunState.FAILED if failed >= total
        else RunState.PARTIAL
    )  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with transaction.atomic():
        AwsAccountRun.objects.filter(pk=account_run.pk).update(
            status=status, finished_at=timezone.now(), message="\n".join(messages)[:4000],
            collectors_done=done, collectors_failed=failed, api_calls=calls,
            peak_rss_kib=min(peak, 2**31 - 1),
        )  # fmt: skip
        _finish_if_done(account_run.run_id)
        _admit(account_run.run_id)
    account_run.refresh_from_db()
    return account_run


def _finish_if_done(run_id: int) -> None:
    run = AwsIntegrationRun.objects.select_for_update().get(pk=run_id)
    if run.status in FINAL_STATES:
        return
    states = list(run.accounts.values_list("status", flat=True))
    if any(s not in FINAL_STATES for s in states):
        return
    if not states or all(s == RunState.SUCCEEDED for s in states):
        status = RunState.SUCCEEDED
    elif all(s == RunState.FAILED for s in states):
        status = RunState.FAILED
    else:
        status = RunState.PARTIAL
    AwsIntegrationRun.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now())


def _job_timeout(collectors: int) -> int:
    """The collect timeout times the number of collectors the job runs one after the other."""
    per_run = int(settings.RQ_QUEUES[QUEUE].get("DEFAULT_TIMEOUT") or 1800)
    return per_run * max(1, collectors)


def aws_account_runs_sweep() -> int:
    """Fail account runs whose job ended or vanished while the row says running (their
    worker died; the collector runs inside are failed by the evidence sweep), and hand
    queued account and listing jobs that Redis lost to the queue again. Returns how many
    account runs were failed. Without Redis (embedded queue) there is nothing to ask."""
    from pixaudit.evidence.services.queueing import collection_job_state

    now = timezone.now()
    failed = 0
    running = AwsAccountRun.objects.filter(status=RunState.RUNNING, run__status=RunState.RUNNING)
    for account_run in running.select_related("run"):
        state = collection_job_state(account_run.job_id)
        if state is None or not (state.missing or state.ended):
            continue
        with transaction.atomic():
            if AwsAccountRun.objects.filter(pk=account_run.pk, status=RunState.RUNNING).update(
                status=RunState.FAILED, finished_at=now, message=LOST_ACCOUNT_MESSAGE
            ):
                failed += 1
                _finish_if_done(account_run.run_id)
                _admit(account_run.run_id)
    stale = now - _GRACE
    queued = AwsAccountRun.objects.filter(
        status=RunState.QUEUED, run__status=RunState.RUNNING, pushed_at__lt=stale
    )
    for account_run in queued:
        state = collection_job_state(account_run.job_id)
        if state is not None and state.missing:
            _push(ACCOUNT_JOB, account_run.pk, account_run.job_id,
                  _job_timeout(len(account_run.collectors)))  # fmt: skip
    for run in AwsIntegrationRun.objects.filter(status=RunState.QUEUED, queued_at__lt=stale):
        state = collection_job_state(run.job_id)
        if state is not None and state.missing:
            _push(DISCOVER_JOB, run.pk, run.job_id)
    return failed
