"""The runner: create, claim and execute collection runs; sweep runs abandoned by workers.

``collection_run_execute`` is what a ``collect`` job calls (with the run id only). It builds
the context, collects, coerces the rows against the declared columns, sorts them, evaluates
the assertions, builds and canonicalises the artifact, then ingests it in one transaction
(``ingest.evidence_ingest``). Any failure marks the run failed with a message a user can act
on and stores nothing. Secret values are redacted from every message and log line, and a run
whose output contains a secret is refused rather than stored.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from collectors import CollectionContext, Collector, CollectorError, ParamError
from collectors.base import REDACTED, redact_params, validate_params
from collectors.base import Finding as SdkFinding
from collectors.destinations import destination_errors
from collectors.evaluate import evaluate_assertions, validate_thresholds
from collectors.schema import coerce_rows
from pixaudit.evidence.canonical import (
    CanonicalFormError,
    canonical_bytes,
    canonical_parts_with_list,
    format_datetime,
)
from pixaudit.evidence.models import (
    CollectionRun,
    Connection,
    EvidenceItem,
    RunStatus,
    RunTrigger,
)
from pixaudit.evidence.services.connections import (
    ConnectionParamsError,
    allow_http_loopback,
    collector_class,
    connection_next_run_at,
    connection_secret_values,
    decrypt_secrets,
    encrypt_secrets,
    split_params,
    validate_connection_thresholds,
)
from pixaudit.evidence.services.ingest import (
    RunNotRunning,
    evidence_ingest,
    evidence_post_ingest,
    finding_counts,
    worker_name,
)
from pixaudit.evidence.services.run_failures import current_state_failures_sync
from pixaudit.evidence.storage import (
    ArtifactStoreError,
    ArtifactTooLarge,
    artifact_max_bytes,
    artifact_size_check,
    data_sha256,
    data_size,
)

__all__ = [
    "STALE_RUN_MESSAGE",
    "CollectionRunActive",
    "RunResult",
    "collection_run_create",
    "collection_run_execute",
    "collection_run_mark_stale",
    "collection_run_retry",
]

logger = logging.getLogger("pixaudit.evidence.runner")

STALE_RUN_MESSAGE = "worker stopped during the run"
_MAX_ERROR_CHARS = 2000
_MIN_SECRET_LENGTH = 4  # the SDK's threshold: shorter values would mangle ordinary words


class CollectionRunActive(Exception):
    """The connection already has a queued or running run (``run`` is that run)."""

    def __init__(self, run: CollectionRun | None):
        self.run = run
        super().__init__(
            f"connection already has an active run ({run})" if run else "active run exists"
        )


@dataclass
class RunResult:
    """What a run produced, attached as ``run.result`` (for the CLI; not stored as such)."""

    findings: list[SdkFinding] = field(default_factory=list)
    rows_count: int = 0
    sha256: str = ""
    evidence: EvidenceItem | None = None


def collection_run_create(
    *,
    connection: Connection | None = None,
    collector_key: str | None = None,
    params: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    trigger: str,
    attempt: int = 1,
) -> CollectionRun:
    """Queue a run of a saved connection, or of ``collector_key`` with ad-hoc ``params``.

    Ad-hoc params are validated now (``ConnectionParamsError``) and kept on the run, secrets
    encrypted, so a job can execute it by id. Raises :class:`CollectionRunActive` when the
    connection already has a queued or running run (the database enforces it too).
    """
    if connection is not None:
        if collector_key and collector_key != connection.collector_key:
            raise ValueError("collector_key does not match the connection's collector")
        try:
            with transaction.atomic():
                Connection.objects.select_for_update().filter(pk=connection.pk).first()
                active = CollectionRun.objects.filter(
                    connection=connection, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
                ).first()
                if active is not None:
                    raise CollectionRunActive(active)
                return CollectionRun.objects.create(
                    connection=connection,
                    collector_key=connection.collector_key,
                    thresholds=connection.thresholds,
                    trigger=trigger,
                    attempt=attempt,
                )
        except IntegrityError:
            raise CollectionRunActive(
                CollectionRun.objects.filter(
                    connection=connection, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
                ).first()
            ) from None
    if not collector_key:
        raise ValueError("give a connection or a collector_key")
    if trigger == RunTrigger.MANUAL:
        # "manual" without a connection marks evidence appended by ``evidence_append``, which
        # merges into current state instead of replacing it (``integrity_current`` relies on it).
        raise ValueError("a run without a connection is triggered by the CLI or the schedule")
    try:
        cls = collector_class(collector_key)
    except KeyError:
        raise ConnectionParamsError(
            {"collector_key": f"Unknown collector {collector_key!r}."}
        ) from None
    try:
        validated = validate_params(cls.params, params or {})
    except ParamError as exc:
        secret_names = set(cls.secret_param_names())
        raise ConnectionParamsError(
            {k: ("Invalid value." if k in secret_names else v) for k, v in exc.errors.items()}
        ) from None
    errors: dict[str, str] = destination_errors(
        cls.params, validated, allow_http_loopback=allow_http_loopback()
    )
    overrides = validate_connection_thresholds(cls, thresholds, errors)
    if errors:
        raise ConnectionParamsError(errors)
    public, secret = split_params(cls, validated)
    with transaction.atomic():
        run = CollectionRun.objects.create(
            collector_key=collector_key, params=public, thresholds=overrides, trigger=trigger,
            attempt=attempt,
        )  # fmt: skip
        run.secrets = encrypt_secrets("run", run.pk, secret)
        run.save(update_fields=["secrets"])
    return run


def collection_run_retry(*, run_id: int) -> CollectionRun:
    """Queue the next attempt of a run that failed transiently (``run.should_retry``)."""
    old = CollectionRun.objects.get(pk=run_id)
    if not old.should_retry:
        raise ValueError(f"run {run_id} is not retryable")
    if old.connection_id is not None:
        return collection_run_create(
            connection=old.connection, trigger=old.trigger, attempt=old.attempt + 1
        )
    with transaction.atomic():
        run = CollectionRun.objects.create(
            collector_key=old.collector_key, params=old.params, thresholds=old.thresholds,
            trigger=old.trigger, attempt=old.attempt + 1,
        )  # fmt: skip
        run.secrets = encrypt_secrets("run", run.pk, decrypt_secrets("run", old.pk, old.secrets))
        run.save(update_fields=["secrets"])
    return run


def _claim(run_id: int, job_id: str) -> bool:
    # Compare-and-set: only one worker moves a run from queued to running.
    return bool(
        CollectionRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            worker=worker_name(),
            job_id=job_id or "",
        )
    )


class _Redactor:
    def __init__(self, secrets: list[str]):
        self.secrets = sorted(
            {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LENGTH},
            key=len,
            reverse=True,
        )

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def leaks_into(self, data: bytes | list[bytes]) -> bool:
        """Whether a secret appears in ``data`` (bytes, or parts: searched part by part and
        across each boundary between two parts)."""
        needles = set()
        for secret in self.secrets:
            needles.add(secret.encode("utf-8"))
            needles.add(canonical_bytes(secret)[1:-1])  # as it would appear inside JSON
        if not needles:
            return False
        parts = data if isinstance(data, list) else [data]
        overlap = max(map(len, needles)) - 1
        previous = b""
        for part in parts:
            window = previous[-overlap:] + part[:overlap] if overlap else b""
            if any(n in part or n in window for n in needles):
                return True
            previous = part if len(part) >= overlap else (previous + part)[-overlap:]
        return False


def _fail(run: CollectionRun, message: str, *, permanent: bool) -> CollectionRun:
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 1] + "…"
    run.status = RunStatus.FAILED
    run.finished_at = timezone.now()
    run.error_message = message
    run.error_permanent = permanent
    run.save(update_fields=["status", "finished_at", "error_message", "error_permanent"])
    if run.connection_id and (permanent or not run.should_retry):
        # Do not let the scheduler re-enqueue a hopeless connection every tick.
        conn = Connection.objects.filter(pk=run.connection_id).first()
        if conn is not None:
            Connection.objects.filter(pk=conn.pk).update(
                next_run_at=connection_next_run_at(connection=conn, after=run.finished_at)
            )
        # A final failure shows on the connection's controls at once (ERROR rows).
        _failures_sync([run.connection_id])
    return run


def _failures_sync(connection_ids: list[int]) -> None:
    try:
        current_state_failures_sync(connection_ids=connection_ids)
    except Exception:  # the periodic job retries the sync; the run's failure is recorded
        logger.exception("could not record failed runs of %s in current state", connection_ids)


def _params_and_secrets(run: CollectionRun, cls: type[Collector]) -> tuple[dict, list[str]]:
    if run.connection_id is not None:
        conn = Connection.objects.get(pk=run.connection_id)
        secrets = connection_secret_values(connection=conn)
        values = {**conn.params, **secrets}
    else:
        secrets = decrypt_secrets("run", run.pk, run.secrets)
        values = {**run.params, **secrets}
    declared = {p.name for p in cls.params}
    values = {k: v for k, v in values.items() if k in declared}
    return values, list(secrets.values())


def _time_budget() -> float | None:
    budget = getattr(settings, "PIXAUDIT_COLLECT_TIME_BUDGET", None)
    if budget is not None:
        return float(budget)
    timeout = settings.RQ_QUEUES.get("collect", {}).get("DEFAULT_TIMEOUT")
    # Leave the last tenth of the job timeout for coercion, hashing and the ingest.
    return float(timeout) * 0.9 if timeout else None


def _document(
    run: CollectionRun, cls: type[Collector], ctx: CollectionContext, params: dict,
    rows: list[dict], collected_at: datetime,
) -> dict[str, Any]:  # fmt: skip
    conn = run.connection if run.connection_id else None
    return {
        "collector": {"key": cls.key, "version": int(cls.version), "title": cls.title},
        "pixaudit_version": settings.PIXAUDIT_VERSION,
        "connection": {"id": conn.pk, "name": conn.name} if conn else None,
        "collected_at": format_datetime(collected_at),
        "params": redact_params(cls.params, params),
        "identity": ctx.identity,
        "api_calls": ctx.api_calls,
        "columns": [
            {"name": c.name, "dtype": c.dtype, "description": c.description} for c in cls.columns
        ],
        "rows": rows,
        "errors": [dict(e) for e in ctx.errors],
    }


def collection_run_execute(
    *,
    run_id: int,
    store: bool = True,
    progress: Callable[[int, int | None, str], None] | None = None,
    job_id: str = "",
) -> CollectionRun:
    """Execute a queued run and return it (finished; ``run.result`` holds the findings).

    A run that is not queued (already claimed by another worker, or finished) is returned
    unchanged. ``store=False`` evaluates without storing evidence (``collect --no-store``).
    """
    if not _claim(run_id, job_id):
        return CollectionRun.objects.get(pk=run_id)
    run = CollectionRun.objects.select_related("connection").get(pk=run_id)
    run.result = RunResult()  # type: ignore[attr-defined]
    redact = _Redactor([])
    key = run.collector_key
    try:
        cls = collector_class(key)
    except KeyError:
        return _fail(run, f"collector {key!r} is not installed", permanent=True)
    try:
        # Before collecting: thresholds stored for an assertion the collector no longer
        # declares (or written around the services) are refused, never silently ignored.
        validate_thresholds(cls, run.thresholds or None)
    except ParamError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
        return _fail(run, f"invalid thresholds: {detail}", permanent=True)
    try:
        params, secrets = _params_and_secrets(run, cls)
        redact = _Redactor(secrets)
        params = validate_params(cls.params, params)
        unsafe = destination_errors(cls.params, params, allow_http_loopback=allow_http_loopback())
        if unsafe:  # stored before the HTTPS rule, or written around the services
            raise ParamError(unsafe)
        ctx = CollectionContext(
            params,
            secrets=secrets,
            logger=logging.getLogger(f"pixaudit.collectors.{key}"),
            progress=progress,
            time_budget=_time_budget(),
            allow_http_loopback=allow_http_loopback(),
        )
        collected_at = ctx.now()
        rows = coerce_rows(cls.columns, cls().collect(ctx))
        # Deterministic order whatever the collector returned: identical collections must
        # produce identical bytes (and so share one content-addressed artifact). Each row is
        # canonicalised once, counting the size: an artifact above the limit stops here,
        # before the document is built.
        rows, row_bytes = _sorted_canonical_rows(rows)
        findings = evaluate_assertions(cls, rows, ctx.errors, thresholds=run.thresholds or None)
        document = _document(run, cls, ctx, params, rows, collected_at)
        del document["rows"]
        # The artifact stays a list of parts (the rows' bytes computed above): hashed,
        # checked and written part by part, never joined into one more copy.
        data = canonical_parts_with_list(document, "rows", row_bytes)
        del row_bytes, document
        artifact_size_check(data_size(data))
    except ArtifactTooLarge as exc:
        logger.warning("run %s of %s: %s", run.pk, key, exc)
        return _fail(run, str(exc), permanent=True)
    except CollectorError as exc:
        logger.warning("run %s of %s failed: %s", run.pk, key, redact(exc.message))
        return _fail(run, redact(exc.message), permanent=exc.permanent)
    except ParamError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
        return _fail(run, redact(f"invalid parameters: {detail}"), permanent=True)
    except Exception as exc:  # a collector bug: a short message for users, traceback in logs
        logger.error(
            "run %s of %s crashed:\n%s", run.pk, key, redact(traceback.format_exc()).rstrip()
        )
        return _fail(
            run,
            redact(f"internal error in collector {key}: {type(exc).__name__}: {exc}"),
            permanent=False,
        )
    findings_bytes = canonical_bytes([f.to_dict() for f in findings])
    if redact.leaks_into(data) or redact.leaks_into(findings_bytes):
        logger.error("run %s of %s: output contained a secret value; not stored", run.pk, key)
        return _fail(
            run,
            f"collector {key} returned a secret parameter value in its output; "
            "nothing was stored (this is a bug in the collector)",
            permanent=True,
        )
    sha256 = data_sha256(data)
    run.result = RunResult(findings=findings, rows_count=len(rows), sha256=sha256)
    if not store:
        counts = finding_counts(findings)
        CollectionRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), rows_count=len(rows),
            findings_pass=counts["pass"], findings_fail=counts["fail"],
            findings_warn=counts["warn"], findings_error=counts["error"],
        )  # fmt: skip
        result = run.result
        run.refresh_from_db()
        run.result = result
        return run
    provenance = {
        "identity": ctx.identity,
        "api_calls": ctx.api_calls,
        "params": redact_params(cls.params, params),
        "errors": [dict(e) for e in ctx.errors],
        "worker": run.worker,
        "attempt": run.attempt,
        "trigger": run.trigger,
    }
    try:
        item = evidence_ingest(
            run=run, cls=cls, data=data, sha256=sha256, collected_at=collected_at,
            rows_count=len(rows), findings=findings,
            provenance=_json_safe(provenance),
        )  # fmt: skip
    except RunNotRunning:
        logger.warning("run %s of %s was failed by the stale-run sweep; not stored", run.pk, key)
        run.refresh_from_db()
        return run
    except ArtifactStoreError as exc:
        # A full, read-only or unreachable store: transient (space may come back), and the
        # message says what happened instead of "internal error".
        logger.error("run %s of %s: %s", run.pk, key, exc)
        run.refresh_from_db()
        return _fail(run, f"the evidence could not be stored: {exc}", permanent=False)
    except Exception as exc:
        logger.error(
            "run %s of %s: storing evidence failed:\n%s",
            run.pk, key, redact(traceback.format_exc()).rstrip(),
        )  # fmt: skip
        run.refresh_from_db()
        return _fail(
            run,
            redact(f"internal error while storing evidence: {type(exc).__name__}: {exc}"),
            permanent=False,
        )
    run.result.evidence = item
    evidence_post_ingest(item=item)
    return run


def _sorted_canonical_rows(rows: list[dict[str, Any]]) -> tuple[list[dict], list[bytes]]:
    """Rows sorted by their canonical bytes, and those bytes; raises ``ArtifactTooLarge`` as
    soon as the rows alone pass ``PIXAUDIT_ARTIFACT_MAX_BYTES`` (it then measures the rest
    without keeping it, so the error names the real size)."""
    limit = artifact_max_bytes()
    keys: list[bytes] = []
    total = 2  # the list's brackets; each row adds its bytes and a comma
    for index, row in enumerate(rows):
        key = _row_bytes(row, index)
        total += len(key) + (1 if index else 0)
        if total > limit:
            keys.clear()
            for later, rest in enumerate(rows[index + 1 :], start=index + 1):
                total += len(_row_bytes(rest, later)) + 1
            artifact_size_check(total, what=f"the evidence of {len(rows):,} rows")
        keys.append(key)
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return [rows[i] for i in order], [keys[i] for i in order]


def _row_bytes(row: dict[str, Any], index: int) -> bytes:
    try:
        return canonical_bytes(row)
    except CanonicalFormError as exc:  # e.g. a set inside a json column
        raise CollectorError(f"row {index}: {exc}", permanent=True) from None


def _json_safe(value: Any) -> Any:
    # Provenance goes into a JSONField: tuples (ctx.errors' assertions) become lists.
    return json.loads(canonical_bytes(value))


def collection_run_mark_stale(
    *,
    older_than: timedelta,
    job_exists: Callable[[str], bool] | None = None,
    alive: Callable[[str], bool] | None = None,
) -> int:
    """Fail runs left ``running`` by a worker that died (kill -9, OOM, lost machine).

    A run is stale when it started more than ``older_than`` ago (use the job timeout), or,
    when ``job_exists`` is given, when its RQ job id no longer exists. A run outside RQ
    (no job id: a foreground ``collect``, which no job timeout bounds) whose process
    ``alive(worker)`` confirms is still there is not failed by age. Stale runs become
    failed (transient, so ``should_retry`` applies) with "worker stopped during the run".
    Nothing of such a run was stored: ingest is one transaction. Returns how many runs.
    """
    cutoff = timezone.now() - older_than
    running = CollectionRun.objects.filter(status=RunStatus.RUNNING)
    old = running.filter(Q(started_at__lt=cutoff)).values_list("pk", "job_id", "worker")
    stale_ids = {pk for pk, job_id, worker in old if job_id or alive is None or not alive(worker)}
    if job_exists is not None:
        for pk, job_id in running.exclude(job_id="").values_list("pk", "job_id"):
            if not job_exists(job_id):
                stale_ids.add(pk)
    if not stale_ids:
        return 0
    # Re-check the status in the UPDATE: a run that just finished is left alone.
    count = CollectionRun.objects.filter(pk__in=stale_ids, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        error_message=STALE_RUN_MESSAGE,
        error_permanent=False,
    )
    if count:
        logger.warning("marked %d stale run(s) failed: %s", count, sorted(stale_ids))
        _failures_sync(
            list(
                CollectionRun.objects.filter(pk__in=stale_ids, connection__isnull=False)
                .values_list("connection_id", flat=True)
                .distinct()
            )
        )
    return count
