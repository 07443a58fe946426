"""Evidence pushed by API: validated, evaluated server-side, ingested like a collection.

``evidence_push`` checks the rows against the push collector's declared columns (every
problem named, nothing stored), evaluates its assertions with the same function the runner
uses, builds the canonical artifact the same way, and appends it with
``evidence.services.ingest.evidence_ingest`` through a run (trigger ``push``, no connection)
that this process owns: the same chain, the same current-state update, the same post-ingest
hooks as pulled evidence. The provenance names the token, its user and the CI metadata.
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
from pixaudit.evidence.canonical import canonical_parts_with_list, format_datetime
from pixaudit.evidence.models import CollectionRun, EvidenceItem, RunStatus, RunTrigger
from pixaudit.evidence.services.connections import collector_class
from pixaudit.evidence.services.ingest import evidence_ingest, evidence_post_ingest
from pixaudit.evidence.services.runs import _json_safe, _sorted_canonical_rows
from pixaudit.evidence.storage import artifact_size_check, data_sha256, data_size
from pixaudit.lib.processes import process_identity

__all__ = ["NotAPushCollector", "PushRejected", "evidence_push", "push_collector"]

logger = logging.getLogger("pixaudit.api.push")


class NotAPushCollector(LookupError):
    """The key names no collector, or one whose rows are pulled."""


def push_collector(key: str) -> type[PushCollector]:
    """The push collector registered as ``key``; raises :class:`NotAPushCollector`."""
    try:
        cls = collector_class(key)
    except KeyError:
        raise NotAPushCollector(f"No collector {key!r} is installed.") from None
    if not getattr(cls, "push", False):
        raise NotAPushCollector(f"{key} is pulled by pixaudit; its rows cannot be pushed.")
    return cls


def _document(cls, rows: list, collected_at, token: ApiToken, metadata: dict) -> dict[str, Any]:
    return {
        "collector": {"key": cls.key, "version": int(cls.version), "title": cls.title},
        "pixaudit_version": settings.PIXAUDIT_VERSION,
        "connection": None,
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
    request: Any = None,
) -> EvidenceItem:
    """Validate, evaluate and append pushed ``rows``; return the evidence item.

    Raises :class:`NotAPushCollector`, :class:`PushRejected` (every problem, nothing
    stored), ``storage.ArtifactTooLarge`` and ``storage.ArtifactStoreError`` (nothing
    stored). Audited as ``evidence.pushed`` with the token's identity.
    """
    cls = push_collector(collector_key)
    metadata = dict(metadata or {})
    coerced, findings = push_evaluate(cls, rows)
    # Same order and bytes as a pulled collection of the same rows.
    coerced, row_bytes = _sorted_canonical_rows(coerced)
    collected_at = timezone.now()
    document = _document(cls, coerced, collected_at, token, metadata)
    del document["rows"]
    data = canonical_parts_with_list(document, "rows", row_bytes)
    artifact_size_check(data_size(data))
    worker, started = process_identity()
    run = CollectionRun.objects.create(
        collector_key=cls.key, status=RunStatus.RUNNING, trigger=RunTrigger.PUSH,
        started_at=collected_at, worker=worker, worker_started=started,
    )  # fmt: skip
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
    try:
        # The audit event commits with the item, or neither does.
        with transaction.atomic():
            item = evidence_ingest(
                run=run, cls=cls, data=data, sha256=data_sha256(data),
                collected_at=collected_at, rows_count=len(coerced), findings=findings,
                provenance=_json_safe(provenance),
            )  # fmt: skip
            audit_log_record(actor=token.user, action="evidence.pushed", obj=item,
                             request=request, collector=cls.key, rows=len(coerced),
                             findings=len(findings), sha256=item.sha256,
                             ci=metadata)  # fmt: skip
    except BaseException as exc:
        CollectionRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error_permanent=True,
            error_message=f"the pushed evidence was not stored: {type(exc).__name__}: {exc}"[:2000],
        )  # fmt: skip
        raise
    evidence_post_ingest(item=item)
    return item
