"""The runner: create, claim and execute collection runs; sweep runs abandoned by workers.

``collection_run_execute`` is what a ``collect`` job calls (with the run id only). It builds
the context, collects, coerces the rows against the declared columns, sorts them, evaluates
the assertions, builds and canonicalises the artifact, then ingests it in one transaction
(``ingest.evidence_ingest``). Any failure marks the run failed with a message a user can act
on and stores nothing. Secret values are redacted from every message and log line, and a run
whose output contains a secret is refused rather than stored.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.utils import timezone

from collectors import CollectionContext, Collector, CollectorError, ParamError
from collectors.base import REDACTED, redact_params, validate_params
from collectors.base import Finding as SdkFinding
from collectors.destinations import destination_errors
from collectors.evaluate import validate_thresholds
from collectors.spool import SpoolError
from pixaudit.evidence import run_errors
from pixaudit.evidence.canonical import (
    canonical_bytes,
    format_datetime,
    json_safe,
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
    collector_is_app_register,
    collector_is_pushed,
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
)
from pixaudit.evidence.services.run_failures import current_state_failures_sync
from pixaudit.evidence.services.streaming import (
    document_write,
    findings_spool,
    rows_spool,
)
from pixaudit.evidence.storage import (
    ArtifactStoreError,
    ArtifactTooLarge,
)
from pixaudit.lib.processes import process_identity

__all__ = [
    "DATABASE_LOST_MESSAGE",
    "FOREGROUND_STOPPED_MESSAGE",
    "STALE_RUN_MESSAGE",
    "CollectionRunActive",
    "CollectorIsAppRegister",
    "ConnectionIsPushed",
    "RunResult",
    "collection_run_adopt",
    "collection_run_create",
    "collection_run_execute",
    "collection_run_fail_abandoned",
    "collection_run_retry",
    "retry_backoff",
]

logger = logging.getLogger("pixaudit.evidence.runner")

#: A worker process died (kill -9, OOM, lost machine) while it was executing the run.
STALE_RUN_MESSAGE = "worker stopped during the run"
#: The foreground ``manage.py collect`` executing the run died.
FOREGROUND_STOPPED_MESSAGE = "the foreground `collect` process stopped during the run"
#: PostgreSQL went away (stopped, restarted, network) while the run was executing.
DATABASE_LOST_MESSAGE = "database unreachable during the run"
_MAX_ERROR_CHARS = 2000
_MIN_SECRET_LENGTH = 4  # the SDK's threshold: shorter values would mangle ordinary words


class CollectionRunActive(Exception):
    """The connection already has a queued or running run (``run`` is that run)."""

    def __init__(self, run: CollectionRun | None):
        self.run = run
        super().__init__(
            f"connection already has an active run ({run})" if run else "active run exists"
        )


class ConnectionIsPushed(Exception):
    """The connection belongs to a push collector: its evidence arrives by API, never by a run."""

    def __init__(self, connection: Connection):
        self.connection = connection
        super().__init__(
            f"connection {connection.name!r} receives evidence pushed by API "
            f"(POST /api/v1/push/{connection.collector_key}/?connection={connection.pk}); "
            "it is never run"
        )


class CollectorIsAppRegister(Exception):
    """The collector is an app register: the app records its rows itself, nothing runs it.

    ``connection`` is the (legacy) connection asked to run, or ``None`` for a run by key.
    """

    def __init__(self, cls: type[Collector], connection: Connection | None = None):
        self.collector_key = cls.key
        self.recorded_in = cls.recorded_in
        self.connection = connection
        what = f"connection {connection.name!r} ({cls.key})" if connection else cls.key
        super().__init__(
            f"{what} is never run: {cls.key} is recorded by pixaudit from {cls.recorded_in}, "
            "which appends its evidence after each change"
        )


@dataclass
class RunResult:
    """What a run produced, attached as ``run.result`` (for the CLI; not stored as such)."""

    findings: Sequence[SdkFinding] = field(default_factory=list)  # on disk after a run
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
    foreground: bool = False,
    retry_of: CollectionRun | None = None,
    retry_at: datetime | None = None,
) -> CollectionRun:
    """Queue a run of a saved connection, or of ``collector_key`` with ad-hoc ``params``.

    Ad-hoc params are validated now (``ConnectionParamsError``) and kept on the run, secrets
    encrypted, so a job can execute it by id. Raises :class:`CollectionRunActive` when the
    connection already has a queued or running run (the database enforces it too).
    ``foreground=True`` records this process as the run's owner (``manage.py collect``
    executes it itself), so the sweep can tell when that process died before it started.
    A connection of a push collector is never run: :class:`ConnectionIsPushed`; an
    app-register collector (by connection or by key) neither: :class:`CollectorIsAppRegister`.
    """
    owner = dict(zip(("worker", "worker_started"), process_identity(), strict=True))
    extra: dict[str, Any] = {**(owner if foreground else {}), "retry_at": retry_at}
    if retry_of is not None:
        extra["retry_of"] = retry_of
    if connection is not None:
        if collector_key and collector_key != connection.collector_key:
            raise ValueError("collector_key does not match the connection's collector")
        if collector_is_pushed(connection.collector_key):
            raise ConnectionIsPushed(connection)
        if collector_is_app_register(connection.collector_key):
            raise CollectorIsAppRegister(collector_class(connection.collector_key), connection)
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
                    **extra,
                )
        except IntegrityError:  # a concurrent run, or a retry of ``retry_of`` already exists
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
    if getattr(cls, "app_register", False):
        raise CollectorIsAppRegister(cls)
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
            attempt=attempt, **extra,
        )  # fmt: skip
        run.secrets = encrypt_secrets("run", run.pk, secret)
        run.save(update_fields=["secrets"])
    return run


def collection_run_retry(*, run_id: int, retry_at: datetime | None = None) -> CollectionRun:
    """Queue the next attempt of a run that failed transiently (``run.should_retry``).

    The new run waits until ``retry_at`` (the scheduler tick hands it to a worker then). A
    run gets at most one retry (``retry_of`` is unique): a second call raises
    :class:`CollectionRunActive` with the existing retry, as does an active run of the
    connection.
    """
    old = CollectionRun.objects.get(pk=run_id)
    if not old.should_retry:
        raise ValueError(f"run {run_id} is not retryable")
    existing = CollectionRun.objects.filter(retry_of=old).first()
    if existing is not None:
        raise CollectionRunActive(existing)
    if old.connection_id is not None:
        return collection_run_create(
            connection=old.connection, trigger=old.trigger, attempt=old.attempt + 1,
            retry_of=old, retry_at=retry_at,
        )  # fmt: skip
    try:
        with transaction.atomic():
            run = CollectionRun.objects.create(
                collector_key=old.collector_key, params=old.params, thresholds=old.thresholds,
                trigger=old.trigger, attempt=old.attempt + 1, retry_of=old, retry_at=retry_at,
            )  # fmt: skip
            secrets = decrypt_secrets("run", old.pk, old.secrets)
            run.secrets = encrypt_secrets("run", run.pk, secrets)
            run.save(update_fields=["secrets"])
    except IntegrityError:  # another process created the retry a moment ago
        raise CollectionRunActive(CollectionRun.objects.filter(retry_of=old).first()) from None
    return run


def collection_run_adopt(*, run_id: int) -> CollectionRun:
    """Make this process the owner of a run that waits for its due time, to execute it now.

    ``manage.py collect --connection`` uses it when the connection's active run is a retry
    nobody has started yet. Raises :class:`CollectionRunActive` when the run was meanwhile
    handed to a worker, started or finished.
    """
    worker, started = process_identity()
    adopted = CollectionRun.objects.filter(
        pk=run_id, status=RunStatus.QUEUED, enqueued_at__isnull=True, worker=""
    ).update(worker=worker, worker_started=started)
    run = CollectionRun.objects.get(pk=run_id)
    if not adopted:
        raise CollectionRunActive(run)
    return run


def _claim(run_id: int, job_id: str) -> bool:
    # Compare-and-set: only one worker moves a run from queued to running, and only the job
    # the run was last handed to (``job_id``) may: a job thought lost and replaced by a new
    # one finds the run no longer its own. A foreground run has no job id.
    worker, started = process_identity()
    return bool(
        CollectionRun.objects.filter(
            pk=run_id, status=RunStatus.QUEUED, job_id__in={"", job_id or ""}
        ).update(
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            worker=worker,
            worker_started=started,
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

    def leaks_into(self, data: bytes | Iterable[bytes]) -> bool:
        """Whether a secret appears in ``data`` (bytes, or parts: searched part by part and
        across each boundary between two parts)."""
        scanner = self.scanner()
        for part in [data] if isinstance(data, bytes) else data:
            scanner.feed(part)
        return scanner.found

    def scanner(self) -> _LeakScanner:
        """An incremental :meth:`leaks_into`: ``feed`` parts as they are written."""
        needles = set()
        for secret in self.secrets:
            needles.add(secret.encode("utf-8"))
            needles.add(canonical_bytes(secret)[1:-1])  # as it would appear inside JSON
        return _LeakScanner(needles)


class _LeakScanner:
    """Finds any of ``needles`` in bytes fed part by part, across part boundaries too."""

    def __init__(self, needles: set[bytes]):
        self.needles = needles
        self.found = False
        self._overlap = max(map(len, needles)) - 1 if needles else 0
        self._previous = b""

    def feed(self, part: bytes) -> None:
        if self.found or not self.needles:
            return
        overlap = self._overlap
        window = self._previous[-overlap:] + part[:overlap] if overlap else b""
        if any(n in part or n in window for n in self.needles):
            self.found = True
        if len(part) >= overlap:
            self._previous = part[-overlap:] if overlap else b""
        else:
            self._previous = (self._previous + part)[-overlap:]


def retry_backoff(attempt: int) -> timedelta:
    """How long after attempt ``attempt`` failed the next one is due."""
    steps = settings.PIXAUDIT_RETRY_BACKOFF_SECONDS or [0]
    return timedelta(seconds=steps[min(attempt, len(steps)) - 1])


def _fail(run: CollectionRun, message: str, *, permanent: bool, kind: str = "") -> CollectionRun:
    # A run executed as a job gets its retry with the failure; a foreground `collect`
    # retries by itself. ``kind`` says what failed (pixaudit.evidence.run_errors).
    _fail_row(run.pk, message, permanent=permanent, retry=bool(run.job_id), kind=kind)
    result = getattr(run, "result", None)
    run.refresh_from_db()
    if result is not None:
        run.result = result
    return run


def _fail_row(
    run_id: int, message: str, *, permanent: bool, retry: bool,
    status: str = RunStatus.RUNNING, retry_at: datetime | None = None, kind: str = "",
    **expect: Any,
) -> bool:  # fmt: skip
    """Fail the run if it is still ``status`` (and ``expect``), creating its next attempt in
    the same transaction when it failed transiently: no failure ever loses its retry, even
    if the process dies right after. The retry is due ``retry_at``, by default after the
    backoff. True if the run was failed here."""
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 1] + "…"
    with transaction.atomic():
        count = CollectionRun.objects.filter(pk=run_id, status=status, **expect).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error_message=message,
            error_permanent=permanent, error_kind=kind or "",
        )  # fmt: skip
        if not count:
            return False
        run = CollectionRun.objects.get(pk=run_id)
        if retry and run.should_retry:
            due = retry_at or run.finished_at + retry_backoff(run.attempt)
            try:
                collection_run_retry(run_id=run.pk, retry_at=due)
            except CollectionRunActive:
                pass  # the connection already has another active run
        _reschedule_if_final(run)
    if run.connection_id and (permanent or not run.should_retry):
        # A final failure shows on the connection's controls at once (ERROR rows), after
        # the failure committed (the sync takes the chain lock in its own transaction).
        _failures_sync([run.connection_id])
    return True


def _reschedule_if_final(run: CollectionRun) -> None:
    # A failure with no retry to come: do not let the scheduler re-enqueue a hopeless
    # connection every tick; it is due again at its next scheduled time.
    if run.connection_id and not run.should_retry:
        conn = Connection.objects.filter(pk=run.connection_id).first()
        if conn is not None:
            Connection.objects.filter(pk=conn.pk).update(
                next_run_at=connection_next_run_at(connection=conn, after=run.finished_at)
            )


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
    collected_at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The evidence document without its ``rows`` (spliced in by ``document_write``)."""
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
        "errors": [dict(e) for e in ctx.errors],
    }


def _calls_per_resource(resource_type: str, counts: dict[str, int], resources: int) -> dict:
    """``{"resource_type", "resources", "calls", "per_resource"}`` of one run (issue 17)."""
    calls = sum(counts.values())
    return {
        "resource_type": resource_type,
        "resources": resources,
        "calls": calls,
        "per_resource": round(calls / resources, 3) if resources else None,
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
    When the database goes away during the run, the run is failed with
    :data:`DATABASE_LOST_MESSAGE` as soon as the database answers again (within
    ``PIXAUDIT_DB_RECONNECT_SECONDS``); after that the error propagates, the RQ job fails
    with it, and the sweep reads it from there.
    """
    if not _claim(run_id, job_id):
        return CollectionRun.objects.get(pk=run_id)
    try:
        return _execute_claimed(run_id, store=store, progress=progress)
    except (OperationalError, InterfaceError) as exc:
        if not database_lost(exc):
            raise
        return _fail_when_database_returns(run_id, exc)


#: SQLSTATEs of a connection the server ended (shutdown, crash, not accepting connections)
#: and the whole "connection exception" class 08.
_CONNECTION_ENDED_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def database_lost(exc: BaseException) -> bool:
    """True when ``exc`` is the database connection breaking (server stopped, network), not a
    statement's error (a deadlock or a timeout leave the connection usable).

    The driver's SQLSTATE decides when it names a lost connection: by the time this is asked,
    Django may already have dropped the broken connection and opened a new one to a server
    that came back (a fast restart), so "is the connection usable now" alone can say yes."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    if sqlstate in _CONNECTION_ENDED_SQLSTATES or sqlstate.startswith("08"):
        return True
    return not db_connection.is_usable()


def database_lost_message(exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{DATABASE_LOST_MESSAGE} ({detail})"


def _fail_when_database_returns(run_id: int, exc: BaseException) -> CollectionRun:
    # Nothing of the run was stored (ingest is one transaction). Record why it failed as
    # soon as the database is back, reconnecting with backoff; give up after the configured
    # time so a long outage does not hold the worker, and let the error reach RQ.
    message = database_lost_message(exc)
    logger.warning("run %s: %s", run_id, message)
    deadline = time.monotonic() + settings.PIXAUDIT_DB_RECONNECT_SECONDS
    delay = 0.5
    while True:
        db_connection.close()
        try:
            job_id = CollectionRun.objects.values_list("job_id", flat=True).get(pk=run_id)
            _fail_row(run_id, message, permanent=False, retry=bool(job_id),
                      kind=run_errors.DATABASE)  # fmt: skip
            return CollectionRun.objects.get(pk=run_id)
        except (OperationalError, InterfaceError):
            if time.monotonic() + delay > deadline:
                raise exc from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _execute_claimed(
    run_id: int, *, store: bool, progress: Callable[[int, int | None, str], None] | None
) -> CollectionRun:
    run = CollectionRun.objects.select_related("connection").get(pk=run_id)
    run.result = RunResult()  # type: ignore[attr-defined]
    redact = _Redactor([])
    key = run.collector_key
    try:
        cls = collector_class(key)
    except KeyError:
        return _fail(run, f"collector {key!r} is not installed", permanent=True,
                     kind=run_errors.NOT_INSTALLED)  # fmt: skip
    try:
        # Before collecting: thresholds stored for an assertion the collector no longer
        # declares (or written around the services) are refused, never silently ignored.
        thresholds = validate_thresholds(cls, run.thresholds or None)
    except ParamError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
        return _fail(run, f"invalid thresholds: {detail}", permanent=True,
                     kind=run_errors.INVALID_SETTINGS)  # fmt: skip
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
            thresholds=thresholds,  # the ones the findings below are evaluated with
        )
        collected_at = ctx.now()
        # Row by row (pixaudit.evidence.services.streaming): the rows go to disk as the
        # collector yields them, sorted there by their canonical bytes (identical
        # collections must produce identical bytes, and so share one content-addressed
        # artifact); the document is written to a temporary file, then the assertions run
        # over the sorted rows and each finding goes to disk. Memory does not grow with the
        # population; an artifact above the limit stops before the document is built.
        spool = rows_spool(cls, cls().collect(ctx))
        scanner = redact.scanner()
        document = _document(run, cls, ctx, params, collected_at)
        spooled = document_write(document, "rows", spool, scanner)
        rows_count = len(spooled.rows)
        evaluated = findings_spool(cls, spooled.rows, ctx.errors,
                                   thresholds=run.thresholds or None, scanner=scanner)  # fmt: skip
        spooled.rows.close()
    except ArtifactTooLarge as exc:
        logger.warning("run %s of %s: %s", run.pk, key, exc)
        return _fail(run, str(exc), permanent=True, kind=run_errors.TOO_LARGE)
    except SpoolError as exc:  # the worker's temporary space, not the collector: transient
        logger.error("run %s of %s: %s", run.pk, key, exc)
        return _fail(run, str(exc), permanent=False, kind=run_errors.STORAGE)
    except CollectorError as exc:
        logger.warning("run %s of %s failed: %s", run.pk, key, redact(exc.message))
        return _fail(run, redact(exc.message), permanent=exc.permanent, kind=exc.kind or "")
    except ParamError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
        return _fail(run, redact(f"invalid parameters: {detail}"), permanent=True,
                     kind=run_errors.INVALID_SETTINGS)  # fmt: skip
    except Exception as exc:  # a collector bug: a short message for users, traceback in logs
        if database_lost(exc):
            raise
        logger.error(
            "run %s of %s crashed:\n%s", run.pk, key, redact(traceback.format_exc()).rstrip()
        )
        return _fail(
            run,
            redact(f"internal error in collector {key}: {type(exc).__name__}: {exc}"),
            permanent=False,
            kind=run_errors.INTERNAL,
        )
    if scanner.found:
        logger.error("run %s of %s: output contained a secret value; not stored", run.pk, key)
        return _fail(
            run,
            f"collector {key} returned a secret parameter value in its output; "
            "nothing was stored (this is a bug in the collector)",
            permanent=True,
            kind=run_errors.SECRET_IN_OUTPUT,
        )
    findings, counts = evaluated.findings, evaluated.counts
    run.result = RunResult(findings=findings, rows_count=rows_count, sha256=spooled.sha256)
    if not store:
        CollectionRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), rows_count=rows_count,
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
        # Calls per action, and so per resource type: the API-call floor is checked on it.
        "api_call_counts": ctx.api_call_counts,
        # Calls per resource of the collector's type (its rows), for the API-call floor.
        "api_calls_per_resource": _calls_per_resource(cls.key, ctx.api_call_counts, rows_count),
        "params": redact_params(cls.params, params),
        "errors": [dict(e) for e in ctx.errors],
        "worker": run.worker,
        "attempt": run.attempt,
        "trigger": run.trigger,
    }
    try:
        item = evidence_ingest(
            run=run, cls=cls, data=spooled.file, sha256=spooled.sha256, size=spooled.size,
            collected_at=collected_at, rows_count=rows_count, findings=findings,
            provenance=json_safe(provenance), digest=evaluated.digest, counts=counts,
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
        return _fail(run, f"the evidence could not be stored: {exc}", permanent=False,
                     kind=run_errors.STORAGE)  # fmt: skip
    except Exception as exc:
        if database_lost(exc):
            raise
        logger.error(
            "run %s of %s: storing evidence failed:\n%s",
            run.pk, key, redact(traceback.format_exc()).rstrip(),
        )  # fmt: skip
        run.refresh_from_db()
        return _fail(
            run,
            redact(f"internal error while storing evidence: {type(exc).__name__}: {exc}"),
            permanent=False,
            kind=run_errors.INTERNAL,
        )
    run.result.evidence = item
    evidence_post_ingest(item=item)
    return run


def collection_run_fail_abandoned(
    *, run_id: int, message: str, status: str = RunStatus.RUNNING,
    retry_at: datetime | None = None, **expect: Any,
) -> bool:  # fmt: skip
    """Fail a run nobody will finish (its process died, its job was lost); True if it did.

    The UPDATE re-checks ``status`` (and ``expect``, the fields the caller judged on), so a
    run that moved on meanwhile is left alone. The failure is transient: with attempts left
    its retry is created in the same transaction, due ``retry_at`` (default: the backoff).
    Nothing of such a run was stored: ingest is one transaction, and it re-checks under the
    chain lock that its run is still running.
    """
    kind = run_errors.DATABASE if DATABASE_LOST_MESSAGE in message else run_errors.INTERRUPTED
    failed = _fail_row(
        run_id, message, permanent=False, retry=True, status=status, retry_at=retry_at,
        kind=kind, **expect,
    )  # fmt: skip
    if failed:
        logger.warning("run %s failed: %s", run_id, message)
    return failed
