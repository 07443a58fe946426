"""Writes of the evidence app (keyword-only ``<entity>_<action>`` functions).

Split by concern: ``connections`` (validated params, encrypted secrets), ``runs`` (the
runner), ``ingest`` (the one-transaction append to the chain); the job layer's services are
``queueing`` (RQ), ``retries``, ``sweep`` and ``scheduling`` (the tick), in that order of
layers (see ``scheduling``'s docstring).
"""

from __future__ import annotations

from pixaudit.evidence.services.connections import (
    UNSET,
    ConnectionParamsError,
    collector_class,
    collector_is_pushed,
    connection_create,
    connection_decrypted_params,
    connection_next_run_at,
    connection_secrets_set,
    connection_update,
)
from pixaudit.evidence.services.ingest import evidence_ingest
from pixaudit.evidence.services.runs import (
    DATABASE_LOST_MESSAGE,
    FOREGROUND_STOPPED_MESSAGE,
    STALE_RUN_MESSAGE,
    CollectionRunActive,
    CollectorIsAppRegister,
    ConnectionIsPushed,
    RunResult,
    collection_run_adopt,
    collection_run_create,
    collection_run_execute,
    collection_run_fail_abandoned,
    collection_run_retry,
)
from pixaudit.evidence.services.secrets import secrets_rotate

__all__ = [
    "DATABASE_LOST_MESSAGE",
    "FOREGROUND_STOPPED_MESSAGE",
    "STALE_RUN_MESSAGE",
    "UNSET",
    "CollectionRunActive",
    "CollectorIsAppRegister",
    "ConnectionIsPushed",
    "ConnectionParamsError",
    "RunResult",
    "collection_run_adopt",
    "collection_run_create",
    "collection_run_execute",
    "collection_run_fail_abandoned",
    "collection_run_retry",
    "collector_class",
    "collector_is_pushed",
    "connection_create",
    "connection_decrypted_params",
    "connection_next_run_at",
    "connection_secrets_set",
    "connection_update",
    "evidence_ingest",
    "secrets_rotate",
]
