"""Helpers for testing collectors, used by the built-ins and by external plugin packages.

- :func:`make_context` builds a :class:`CollectionContext` with an optional fixed clock.
- :func:`run_collector` runs a collector exactly as the runner does (validate params, collect,
  coerce rows, evaluate assertions, turn recorded errors into ERROR findings).
- :func:`serve_fixtures` serves recorded HTTP responses from a folder on 127.0.0.1, over
  plain HTTP or HTTPS with a throwaway CA (it lives in :mod:`collectors.fixture_server`,
  which also runs it from the command line).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors import registry
from collectors.base import Collector, Finding, ParamError, Status, validate_params
from collectors.context import CollectionContext
from collectors.destinations import destination_errors
from collectors.evaluate import evaluate_assertions, validate_thresholds
from collectors.fixture_server import FixtureServer, serve_fixtures
from collectors.schema import coerce_rows

__all__ = [
    "FixtureServer",
    "RunResult",
    "load_json",
    "make_context",
    "run_collector",
    "serve_fixtures",
]


def make_context(
    params: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
    **overrides: Any,
) -> CollectionContext:
    """Return a context for tests; ``now`` freezes :meth:`CollectionContext.now`.

    ``overrides`` are passed to :class:`CollectionContext` (``secrets``, ``time_budget``,
    ``aws_session_factory``, ``http_session``, ``http_retries``, ``sleep``, ...). Unlike
    production, the context may send credentials over plain HTTP to loopback
    (``serve_fixtures``); pass ``allow_http_loopback=False`` to test that a collector
    refuses it.
    """
    overrides.setdefault("allow_http_loopback", True)
    if now is not None:
        frozen = now if now.tzinfo else now.replace(tzinfo=UTC)
        overrides.setdefault("clock", lambda: frozen)
    return CollectionContext(dict(params or {}), **overrides)


@dataclass
class RunResult:
    """What one collector run produced: coerced rows, findings, errors and provenance."""

    rows: list[dict[str, Any]]
    findings: list[Finding]
    errors: list[dict[str, Any]]
    api_calls: list[str]
    identity: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def findings_for(self, assertion_id: str) -> list[Finding]:
        """All findings of one assertion, in evaluation order."""
        return [f for f in self.findings if f.assertion_id == assertion_id]

    def statuses(self, assertion_id: str) -> dict[str, Status]:
        """``{resource: status}`` for one assertion."""
        return {f.resource: f.status for f in self.findings_for(assertion_id)}

    def finding(self, assertion_id: str, resource: str) -> Finding:
        """The finding of one assertion for one resource (``LookupError`` if none)."""
        for f in self.findings:
            if f.assertion_id == assertion_id and f.resource == resource:
                return f
        known = sorted(self.statuses(assertion_id))
        raise LookupError(f"no finding for {assertion_id} on {resource!r}; resources: {known}")


def run_collector(
    cls_or_key: type[Collector] | str,
    params: Mapping[str, Any] | None = None,
    *,
    ctx: CollectionContext | None = None,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    **ctx_kw: Any,
) -> RunResult:
    """Run a collector like the runner does and return a :class:`RunResult`.

    Params are validated against the collector's declaration (``ParamError`` on bad input,
    including a destination URL that secrets may not be sent to); the secret values are
    registered for log redaction. ``ctx_kw`` go to :func:`make_context` (e.g. ``now=...``,
    ``aws_session_factory=...``). With ``ctx``, its
    params are validated and replaced by the validated dict. ``thresholds`` are validated
    (defaults filled) and, as in the runner, given to ``collect`` as ``ctx.thresholds`` and
    to the assertions. A ``CollectorError`` raised by ``collect`` propagates, as it does in
    the runner.
    """
    if isinstance(cls_or_key, str):
        try:
            cls = registry.get(cls_or_key)
        except KeyError:
            registry.discover()
            cls = registry.get(cls_or_key)
    else:
        cls = cls_or_key
    raw = dict(params or {}) if ctx is None or params is not None else dict(ctx.params)
    validated = validate_params(cls.params, raw)
    allow_loopback = ctx.allow_http_loopback if ctx else ctx_kw.get("allow_http_loopback", True)
    unsafe = destination_errors(cls.params, validated, allow_http_loopback=allow_loopback)
    if unsafe:
        raise ParamError(unsafe)
    secrets = [str(validated[name]) for name in cls.secret_param_names() if validated[name]]
    complete = validate_thresholds(cls, thresholds)
    if ctx is None:
        ctx_kw["secrets"] = [*ctx_kw.get("secrets", ()), *secrets]
        ctx = make_context(validated, thresholds=complete, **ctx_kw)
    else:
        ctx.params = validated
        ctx.thresholds = complete
        for secret in secrets:
            ctx.add_secret(secret)
    rows = coerce_rows(cls.columns, cls().collect(ctx))
    findings = evaluate_assertions(cls, rows, ctx.errors, thresholds=thresholds)
    return RunResult(
        rows=rows,
        findings=findings,
        errors=list(ctx.errors),
        api_calls=ctx.api_calls,
        identity=ctx.identity,
        params=validated,
    )


def load_json(path: str | Path) -> Any:
    """Load a JSON fixture file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
