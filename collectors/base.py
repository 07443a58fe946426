"""Core types of the collector contract: collectors, params, columns, assertions and findings.

Nothing here imports Django or pixaudit; third-party collector packages depend only on the
``collectors`` package. See ``docs/architecture.md`` ("The collector contract").
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

# Re-exported: the exceptions and REDACTED live in the bottom layer (errors, redaction) so
# that the HTTP chokepoint and the context can use them without importing this module.
from collectors.errors import CollectorError, ErrorKind, ParamError
from collectors.redaction import REDACTED
from collectors.spool import RecordFile

if TYPE_CHECKING:
    from collectors.context import CollectionContext

__all__ = [
    "COLUMN_DTYPES",
    "PARAM_TYPES",
    "REDACTED",
    "Assertion",
    "Collector",
    "CollectorError",
    "Column",
    "ErrorKind",
    "Finding",
    "Outcome",
    "Param",
    "ParamError",
    "Severity",
    "Status",
    "assertion",
    "redact_params",
    "validate_params",
]

#: Parameter types a :class:`Param` may declare.
PARAM_TYPES: frozenset[str] = frozenset(
    {"string", "integer", "float", "boolean", "list", "json"},
)

#: Column dtypes a :class:`Column` may declare.
COLUMN_DTYPES: frozenset[str] = frozenset(
    {"string", "integer", "float", "boolean", "datetime", "date", "json"},
)

_TRUE_STRINGS = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE_STRINGS = frozenset({"false", "no", "off", "0", "n", "f"})


class Severity(StrEnum):
    """How bad a failed assertion is (Prowler's five levels)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Status(StrEnum):
    """Result of one assertion for one resource.

    ``ERROR`` means "could not be evaluated" (missing permission, API failure, bug in a check)
    and is distinct from ``FAIL``: it never counts as a pass.
    """

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


@dataclass(frozen=True)
class Param:
    """A typed input declaration of a collector (or a threshold of an assertion).

    One declaration drives config validation, the connection form, the generated docs and
    log redaction. ``type`` is one of ``string``, ``integer``, ``float``, ``boolean``,
    ``list`` (a list of strings; a comma-separated string is accepted) or ``json`` (a dict or
    a list; a JSON string is accepted). ``secret=True`` marks credentials: they are stored
    encrypted, redacted from logs and never shown back. ``destination=True`` marks a param
    that decides where the secrets are sent (base URL, endpoint, host, port, role ARN):
    changing it requires re-entering every stored secret, and a URL in it must be
    ``https://`` when secrets are set (see :mod:`collectors.destinations`).
    """

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    help: str = ""
    secret: bool = False
    choices: tuple[Any, ...] | None = None
    destination: bool = False

    def __post_init__(self) -> None:
        if self.choices is not None and not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this param's type; raise ``ValueError`` if impossible.

        ``None`` is returned unchanged (missing values are handled by :func:`validate_params`).
        """
        if value is None:
            return None
        coercer = _COERCERS.get(self.type)
        if coercer is None:
            raise ValueError(f"unknown parameter type {self.type!r}.")
        coerced = coercer(value)
        if self.choices is not None:
            items = coerced if self.type == "list" else [coerced]
            bad = [item for item in items if item not in self.choices]
            if bad:
                allowed = ", ".join(repr(c) for c in self.choices)
                raise ValueError(f"{bad[0]!r} is not one of the allowed values: {allowed}.")
        return coerced

    def default_value(self) -> Any:
        """Return a fresh copy of the default (so mutable defaults are never shared)."""
        return copy.deepcopy(self.default)

    def describe(self) -> dict[str, Any]:
        """Return a JSON-friendly description (secret defaults are never exposed)."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": None if self.secret else self.default,
            "help": self.help,
            "secret": self.secret,
            "choices": list(self.choices) if self.choices is not None else None,
            "destination": self.destination,
        }


def _coerce_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a string, got {type(value).__name__}.")
    return str(value)


def _coerce_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean.")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"expected a whole number, got {value!r}.")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number.") from None
    raise ValueError(f"expected an integer, got {type(value).__name__}.")


def _coerce_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean.")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number.") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}.")
    if not math.isfinite(result):
        raise ValueError(f"{value!r} is not a finite number.")
    return result


def _coerce_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE_STRINGS:
            return True
        if lowered in _FALSE_STRINGS:
            return False
    raise ValueError(f"{value!r} is not a boolean (use true/false).")


def _coerce_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        result = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"list items must be strings, got {type(item).__name__}.")
            result.append(item)
        return result
    raise ValueError(f"expected a list of strings, got {type(value).__name__}.")


def _coerce_json(value: Any) -> dict[str, Any] | list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc.msg} (line {exc.lineno}).") from None
    if isinstance(value, dict | list):
        return value
    raise ValueError(f"expected a JSON object or array, got {type(value).__name__}.")


_COERCERS: dict[str, Callable[[Any], Any]] = {
    "string": _coerce_string,
    "integer": _coerce_integer,
    "float": _coerce_float,
    "boolean": _coerce_boolean,
    "list": _coerce_list,
    "json": _coerce_json,
}


def validate_params(params_decl: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``values`` against ``params_decl`` and return the complete, coerced dict.

    Every declared name is present in the result (default, or ``None`` when unset). Unknown
    names, missing required values and values that cannot be coerced are all collected and
    raised together as one :class:`ParamError`. ``None`` and blank strings count as unset.
    """
    errors: dict[str, str] = {}
    declared = {p.name: p for p in params_decl}
    for name in values:
        if name not in declared:
            errors[name] = "Unknown parameter."
    result: dict[str, Any] = {}
    for param in params_decl:
        raw = values.get(param.name)
        if _is_missing(raw):
            if param.required:
                errors[param.name] = "This parameter is required."
                continue
            result[param.name] = param.default_value()
            continue
        try:
            result[param.name] = param.coerce(raw)
        except ValueError as exc:
            errors[param.name] = str(exc)
    if errors:
        raise ParamError(errors)
    return result


def redact_params(params_decl: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``values`` with every set secret value replaced by ``"********"``."""
    secret_names = {p.name for p in params_decl if p.secret}
    return {
        name: (REDACTED if name in secret_names and not _is_missing(value) else value)
        for name, value in values.items()
    }


@dataclass(frozen=True)
class Column:
    """One column of a collector's output table: name, dtype and a one-line description.

    ``dtype`` is one of ``string``, ``integer``, ``float``, ``boolean``, ``datetime`` (stored
    as UTC ISO-8601 with microseconds and ``Z``), ``date`` (``YYYY-MM-DD``) or ``json``.
    """

    name: str
    dtype: str
    description: str


@dataclass(frozen=True)
class Outcome:
    """What a check says about one resource: a status and a one-sentence message.

    ``severity``, when given, replaces the assertion's declared severity for this finding
    only: a check judging items that carry their own severity (a vulnerability scanner's
    critical or low finding) passes it on, so the exceptions register applies that
    severity's deadline. ``None`` keeps the assertion's.
    """

    status: Status
    message: str
    resource: str | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class Finding:
    """The evaluated result of one assertion for one resource.

    ``thresholds`` records the (validated) assertion params in force, so a finding stays
    interpretable after the thresholds change; ``controls`` are the assertion's control IDs.
    """

    assertion_id: str
    resource: str
    status: Status
    severity: Severity
    message: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    controls: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (enums as their string values)."""
        return {
            "assertion_id": self.assertion_id,
            "resource": self.resource,
            "status": str(self.status),
            "severity": str(self.severity),
            "message": self.message,
            "thresholds": dict(self.thresholds),
            "controls": list(self.controls),
        }


RowCheck = Callable[[dict[str, Any], dict[str, Any]], Any]
TableCheck = Callable[[Sequence[dict[str, Any]], dict[str, Any]], Iterable[Any]]


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class Assertion:
    """A declarative check over a collector's rows, mapped to framework controls.

    ``per="row"``: ``check(row, params)`` returns an :class:`Outcome`, a ``(status, message)``
    tuple, or ``None`` when the row is not applicable (no finding). ``per="table"``:
    ``check(rows, params)`` returns an iterable of outcomes (or ``(status, message[,
    resource])`` tuples); an outcome without a resource applies to ``"*"``. Its ``rows`` are
    a read-only sequence (``len``, iteration, indexing; in the runner a
    :class:`collectors.spool.RecordFile` reading them from disk, so iterate rather than copy
    it). ``params`` declare tunable thresholds with defaults; variants are thresholds, not
    copies.
    """

    id: str
    title: str
    severity: Severity
    remediation: str
    controls: tuple[str, ...]
    check: Callable[..., Any]
    rationale: str = ""
    params: tuple[Param, ...] = ()
    per: str = "row"

    @property
    def description(self) -> str:
        """The check function's docstring, cleaned (empty when absent)."""
        return inspect.getdoc(self.check) or ""

    def validate_thresholds(self, thresholds: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the complete, validated threshold dict (raises :class:`ParamError`)."""
        return validate_params(self.params, thresholds or {})

    def evaluate(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        resource_column: str,
        thresholds: Mapping[str, Any] | None = None,
    ) -> list[Finding]:
        """Run the check over ``rows`` and return findings.

        Invalid thresholds raise :class:`ParamError` (a configuration problem). An exception
        raised by the check becomes an ERROR finding for that resource (or ``"*"`` for table
        checks) instead of aborting the evaluation.
        """
        return list(
            self.iter_evaluate(rows, resource_column=resource_column, thresholds=thresholds)
        )

    def iter_evaluate(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        resource_column: str,
        thresholds: Mapping[str, Any] | None = None,
    ) -> Iterator[Finding]:
        """:meth:`evaluate` as a generator: a row check's findings come one row at a time
        (the runner writes them to disk as they come). Thresholds are validated before the
        first finding."""
        params = self.validate_thresholds(thresholds)
        if self.per == "table":
            yield from self._evaluate_table(rows, params)
            return
        for index, row in enumerate(rows):
            default_resource = _resource_of(row, resource_column, index)
            try:
                result = self.check(dict(row), dict(params))
                if result is None:
                    continue
                outcome = _to_outcome(result, default_resource)
            except Exception as exc:  # a broken check must not hide other results
                outcome = Outcome(Status.ERROR, f"Check failed: {_exception_text(exc)}")
            yield self._finding(outcome, default_resource, params)

    def _evaluate_table(
        self, rows: Sequence[Mapping[str, Any]], params: dict[str, Any]
    ) -> list[Finding]:
        # A RecordFile (the runner's rows on disk) returns fresh rows on every access, so
        # it is passed as it is; a list is copied so a check cannot change the caller's rows.
        table = rows if isinstance(rows, RecordFile) else [dict(r) for r in rows]
        try:
            results = list(self.check(table, dict(params)) or ())
            outcomes = [_to_outcome(r, "*") for r in results]
        except Exception as exc:  # a broken check must not hide other results
            outcomes = [Outcome(Status.ERROR, f"Check failed: {_exception_text(exc)}")]
        return [self._finding(o, "*", params) for o in outcomes]

    def _finding(self, outcome: Outcome, resource: str, params: dict[str, Any]) -> Finding:
        return Finding(
            assertion_id=self.id,
            resource=outcome.resource if outcome.resource is not None else resource,
            status=outcome.status,
            severity=outcome.severity or self.severity,
            message=outcome.message,
            thresholds=dict(params),
            controls=self.controls,
        )

    def describe(self) -> dict[str, Any]:
        """Return a JSON-friendly description for docs and the UI."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": str(self.severity),
            "remediation": self.remediation,
            "controls": list(self.controls),
            "rationale": self.rationale,
            "params": [p.describe() for p in self.params],
            "per": self.per,
            "description": self.description,
        }


def _resource_of(row: Mapping[str, Any], resource_column: str, index: int) -> str:
    value = row.get(resource_column)
    return f"row {index}" if value is None else str(value)


def _to_outcome(result: Any, default_resource: str) -> Outcome:
    if isinstance(result, Outcome):
        outcome = result
    elif isinstance(result, tuple) and len(result) in (2, 3):
        resource = str(result[2]) if len(result) == 3 and result[2] is not None else None
        outcome = Outcome(Status(result[0]), str(result[1]), resource)
    else:
        raise TypeError(
            f"check returned {type(result).__name__}; expected Outcome, (status, message) or None"
        )
    status = Status(outcome.status)
    resource = outcome.resource if outcome.resource is not None else default_resource
    severity = Severity(outcome.severity) if outcome.severity is not None else None
    return Outcome(status, outcome.message, str(resource), severity)


def assertion(
    id: str,
    *,
    title: str,
    severity: Severity | str,
    remediation: str,
    controls: Iterable[str] | str,
    rationale: str = "",
    params: Iterable[Param] = (),
    per: str = "row",
) -> Callable[[Callable[..., Any]], Assertion]:
    """Decorate a plain function in a collector class body to declare an :class:`Assertion`.

    The id is the full ``<collector key>.<what_is_required>``; ``controls`` are IDs such as
    ``"soc2-2017:CC6.1"`` or ``"iso27001-2022:A.8.24"``; ``rationale`` says why they apply.
    """
    control_ids = (controls,) if isinstance(controls, str) else tuple(controls)
    try:
        sev = Severity(severity)
    except ValueError:
        sev = severity  # type: ignore[assignment]  # reported by lint_collector

    def decorator(func: Callable[..., Any]) -> Assertion:
        return Assertion(
            id=id,
            title=title,
            severity=sev,
            remediation=remediation,
            controls=control_ids,
            check=func,
            rationale=rationale,
            params=tuple(params),
            per=per,
        )

    return decorator


_KEY_SOURCE_RE = re.compile(r"^([a-z][a-z0-9]*)_")


class Collector(ABC):
    """Base class of every collector: one class in one module, registered with ``@register``.

    Subclasses declare ``key`` (``<source>_<subject>``), ``title``, ``version``, ``params``,
    ``permissions``, ``columns``, ``resource_column``, ``max_age`` and assertions (functions
    decorated with :func:`assertion`), and implement :meth:`collect`. The class docstring is
    the collector's documentation: what is collected, from which API calls, with which
    permissions, and an example row in words.

    ``push`` and ``app_register`` mark the two kinds of collector pixaudit never runs: rows
    pushed by API, and rows the app records itself from its own registers (``recorded_in``).
    """

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    version: ClassVar[int] = 1
    source: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    permissions: ClassVar[tuple[str, ...]] = ()
    columns: ClassVar[tuple[Column, ...]] = ()
    resource_column: ClassVar[str] = ""
    max_age: ClassVar[timedelta] = timedelta(days=1)
    identity_population: ClassVar[bool] = False
    #: True for collectors whose rows arrive by API (``collectors.push.PushCollector``).
    push: ClassVar[bool] = False
    #: True for an *app register*: the platform itself records the rows from data kept in
    #: the app (a register page, an upload) and appends them as evidence. Such a collector is
    #: a declaration only (columns, assertions, controls, docs): it has no connection, is
    #: never scheduled and never run; ``recorded_in`` says in words where the rows come from.
    app_register: ClassVar[bool] = False
    #: For an app register: where in the app its evidence is recorded (e.g. "the data-subject
    #: request register (Privacy requests, /privacy-requests/)"). Shown in every refusal.
    recorded_in: ClassVar[str] = ""
    assertions: ClassVar[tuple[Assertion, ...]] = ()
    assertions_by_id: ClassVar[dict[str, Assertion]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "source" not in cls.__dict__ and cls.key:
            match = _KEY_SOURCE_RE.match(cls.key)
            cls.source = match.group(1) if match else ""
        by_name: dict[str, Assertion] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Assertion):
                    by_name.pop(name, None)  # an override moves to the subclass position
                    by_name[name] = value
        cls.assertions = tuple(by_name.values())
        cls.assertions_by_id = {a.id: a for a in cls.assertions}

    @abstractmethod
    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Collect raw rows (sorted, deterministic) using only clients obtained from ``ctx``.

        A list, or an iterator of rows (a generator): the SDK then coerces them as they
        come, so a large population's raw rows are never all in memory at once.
        """

    @classmethod
    def description(cls) -> str:
        """The cleaned class docstring (empty when the class has none of its own)."""
        doc = cls.__dict__.get("__doc__")
        return inspect.cleandoc(doc) if doc else ""

    @classmethod
    def controls(cls) -> tuple[str, ...]:
        """All control IDs the collector's assertions map to, sorted and unique."""
        return tuple(sorted({c for a in cls.assertions for c in a.controls}))

    @classmethod
    def secret_param_names(cls) -> tuple[str, ...]:
        """Names of the params declared ``secret=True``."""
        return tuple(p.name for p in cls.params if p.secret)

    @classmethod
    def docs(cls) -> dict[str, Any]:
        """Everything about the collector as a JSON-friendly dict (for generated docs/UI)."""
        return {
            "key": cls.key,
            "title": cls.title,
            "version": cls.version,
            "source": cls.source,
            "description": cls.description(),
            "params": [p.describe() for p in cls.params],
            "permissions": list(cls.permissions),
            "columns": [
                {"name": c.name, "dtype": c.dtype, "description": c.description}
                for c in cls.columns
            ],
            "resource_column": cls.resource_column,
            "max_age_seconds": int(cls.max_age.total_seconds()),
            "identity_population": cls.identity_population,
            "push": cls.push,
            "app_register": cls.app_register,
            "recorded_in": cls.recorded_in,
            "assertions": [a.describe() for a in cls.assertions],
            "controls": list(cls.controls()),
        }
