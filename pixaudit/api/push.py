"""Evidence pushed by API: validated, evaluated server-side, ingested like a collection.

``evidence_push`` checks the rows against the push collector's declared columns (every
problem named, nothing stored), evaluates its assertions with the same function the runner
uses, builds the canonical artifact the same way, and appends it with
``evidence.services.ingest.evidence_ingest`` through a run (trigger ``push``) that this
process owns: the same chain, the same current-state update, the same post-ingest hooks as
pulled evidence. The provenance names the token, its user and the CI metadata.

A push may name a *push connection* (a connection of the push collector, created in the app
like any other, never scheduled or run): the run and the item belong to it, so the current
state it replaces is that connection's only (two repositories pushing ``ci_deployments`` to
two connections keep both). Without one, the push is the collector's implicit connection-less
current state, as before push connections existed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from collectors.push import PushCollector, PushRejected, push_evaluate
from pixaudit.api.models import ApiToken
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.canonical import canonical_parts_with_list, format_datetime, json_safe
from pixaudit.evidence.models import (
    CollectionRun,
    Connection,
    EvidenceItem,
    RunStatus,
    RunTrigger,
)
from pixaudit.evidence.services.connections import collector_class
from pixaudit.evidence.services.ingest import evidence_ingest, evidence_post_ingest
from pixaudit.evidence.services.streaming import rows_sorted
from pixaudit.evidence.storage import artifact_size_check, data_sha256, data_size
from pixaudit.lib.processes import process_identity

__all__ = [
    "NotAPushCollector",
    "PushConnectionMismatch",
    "PushConnectionNotFound",
    "PushRejected",
    "evidence_push",
    "push_collector",
    "push_connection",
]

logger = logging.getLogger("pixaudit.api.push")


class NotAPushCollector(LookupError):
    """The key names no collector, or one whose rows are pulled."""


class PushConnectionNotFound(LookupError):
    """The push names a connection that does not exist."""


class PushConnectionMismatch(ValueError):
    """The named connection exists but cannot take this push (another collector, disabled)."""


def push_connection(*, collector_key: str, ref: str) -> Connection:
    """The connection ``ref`` (its id, or its exact name) of the push collector ``collector_key``.

    Raises :class:`PushConnectionNotFound` when no connection has that id or name, and
    :class:`PushConnectionMismatch` when it belongs to another collector or is disabled.
    """
    found = None
    if ref.isascii() and ref.isdigit() and len(ref) < 19:
        found = Connection.objects.filter(pk=int(ref)).first()
    if found is None:
        found = Connection.objects.filter(name=ref).first()
    if found is None:
        raise PushConnectionNotFound(f"No connection {ref!r}: create it on the connections page.")
    if found.collector_key != collector_key:
        raise PushConnectionMismatch(
            f"Connection {found.name!r} (id {found.pk}) belongs to the collector "
            f"{found.collector_key}, not {collector_key}."
        )
    if not found.enabled:
        raise PushConnectionMismatch(
            f"Connection {found.name!r} (id {found.pk}) is disabled: enable it to accept pushes."
        )
    return found


def push_collector(key: str) -> type[PushCollector]:
    """The push collector registered as ``key``; raises :class:`NotAPushCollector`."""
    try:
        cls = collector_class(key)
    except KeyError:
        raise NotAPushCollector(f"No collector {key!r} is installed.") from None
    if not getattr(cls, "push", False):
        raise NotAPushCollector(f"{key} is pulled by pixaudit; its rows cannot be pushed.")
    return cls


def _document(
    cls, rows: list, collected_at, token: ApiToken, metadata: dict, connection: Connection | None
) -> dict[str, Any]:
    return {
        "collector": {"key": cls.key, "version": int(cls.version), "title": cls.title},
        "pixaudit_version": settings.PIXAUDIT_VERSION,
        # The same shape as a pulled collection's document (runs._document).
        "connection": None
        if connection is None
        else {"id": connection.pk, "name": connection.name},
        "collected_at": format_datetime(collected_at),
        "params": {},
        "identity": f"api:{token.user.get_username()}",
        "api_calls": [],
        "columns": [
            {"name": c.name, "dtype": c.dtype, "description": c.description} for c in cls.columns
        ],
        "rows": rows,
        "errors": [],
        "push": {"token": token.label, "user": token.user.get_username(), "ci": metadata},
    }


def evidence_push(
    *,
    collector_key: str,
    rows: Any,
    token: ApiToken,
    metadata: dict[str, str] | None = None,
    connection: Connection | None = None,
    request: Any = None,
) -> EvidenceItem:
    """Validate, evaluate and append pushed ``rows``; return the evidence item.

    ``connection`` (see :func:`push_connection`) is the push connection the rows belong to:
    its threshold overrides apply, and the latest push to it is its current state; ``None``
    is the collector's connection-less current state.

    Raises :class:`NotAPushCollector`, :class:`PushConnectionMismatch`, :class:`PushRejected`
    (every problem, nothing stored), ``storage.ArtifactTooLarge`` and
    ``storage.ArtifactStoreError`` (nothing stored). Audited as ``evidence.pushed`` with the
    token's identity.
    """
    cls = push_collector(collector_key)
    if connection is not None and connection.collector_key != cls.key:
        raise PushConnectionMismatch(
            f"Connection {connection.name!r} (id {connection.pk}) belongs to the collector "
            f"{connection.collector_key}, not {cls.key}."
        )
    metadata = dict(metadata or {})
    thresholds = dict(connection.thresholds) if connection is not None else {}
    coerced, findings = push_evaluate(cls, rows, thresholds=thresholds or None)
    # Same order and bytes as a pulled collection of the same rows.
    coerced, row_bytes = rows_sorted(coerced)
    collected_at = timezone.now()
    document = _document(cls, coerced, collected_at, token, metadata, connection)
    del document["rows"]
    data = canonical_parts_with_list(document, "rows", row_bytes)
    artifact_size_check(data_size(data))
    worker, started = process_identity()
    provenance = {
        "identity": document["identity"],
        "api_calls": [],
        "params": {},
        "errors": [],
        "worker": worker,
        "attempt": 1,
        "trigger": RunTrigger.PUSH.value,
        "api_token": token.label,
        "user": token.user.get_username(),
        "ci": metadata,
    }
    run_fields = {
        "collector_key": cls.key, "trigger": RunTrigger.PUSH, "thresholds": thresholds,
        "started_at": collected_at, "worker": worker, "worker_started": started,
    }  # fmt: skip
    try:
        # The run, the item and the audit event commit together, or none does. The run is
        # inserted first: a push connection's active-run unique index makes a concurrent push
        # to the same connection wait for this one (it never sees a half-done push).
        with transaction.atomic():
            run = CollectionRun.objects.create(
                connection=connection, status=RunStatus.RUNNING, **run_fields
            )
            item = evidence_ingest(
                run=run, cls=cls, data=data, sha256=data_sha256(data),
                collected_at=collected_at, rows_count=len(coerced), findings=findings,
                provenance=json_safe(provenance),
            )  # fmt: skip
            audit_log_record(actor=token.user, action="evidence.pushed", obj=item,
                             request=request, collector=cls.key, rows=len(coerced),
                             findings=len(findings), sha256=item.sha256, ci=metadata,
                             connection=None if connection is None else connection.name,
                             )  # fmt: skip
    except BaseException as exc:
        # Recorded without its connection: a push the server could not store changes no
        # connection's current state (the previous push stays in force).
        where = "" if connection is None else f" for connection {connection.name!r}"
        try:
            CollectionRun.objects.create(
                status=RunStatus.FAILED, finished_at=timezone.now(), error_permanent=True,
                error_message=(f"the pushed evidence{where} was not stored: "
                               f"{type(exc).__name__}: {exc}")[:2000],
                **run_fields,
            )  # fmt: skip
        except Exception:  # the database itself may be what failed: the original error wins
            logger.exception("could not record the failed push of %s", cls.key)
        raise
    evidence_post_ingest(item=item)
    return item
