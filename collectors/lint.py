"""Static checks of a collector class (the conformance rules, Custodian ``PolicyMetaLint`` style).

:func:`lint_collector` returns human-readable problems (an empty list means conformant).
:func:`structural_problems` is the subset that makes a class unusable; ``register`` refuses a
class with any of those. Whether control IDs exist in a catalog is checked by the Django side
(pass ``known_controls`` to check it here).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from collectors.base import (
    COLUMN_DTYPES,
    PARAM_TYPES,
    Assertion,
    Collector,
    Param,
    Severity,
)

__all__ = [
    "ASSERTION_ID_RE",
    "CONTROL_ID_RE",
    "DESTINATION_NAME_RE",
    "KEY_RE",
    "NAME_RE",
    "SDK_MODULES",
    "lint_collector",
    "lint_params",
    "structural_problems",
]

KEY_RE = re.compile(r"^[a-z][a-z0-9]*_[a-z0-9_]+$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CONTROL_ID_RE = re.compile(r"^(soc2-2017|iso27001-2022):\S+$")
ASSERTION_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$")
MAX_TITLE_LENGTH = 80
#: Param names that say where a request goes: with secrets, they must be destinations.
DESTINATION_NAME_RE = re.compile(
    r"(^|_)(url|urls|uri|endpoint|endpoints|host|hosts|hostname|port|arn|server|domain|"
    r"address|dsn)(_|$)"
)

#: The SDK's own top-level modules: never collector modules, never a collector source name.
SDK_MODULES = frozenset(
    {
        "base",
        "context",
        "destinations",
        "errors",
        "evaluate",
        "fixture_server",
        "identity",
        "lint",
        "push",
        "redaction",
        "registry",
        "scaffold",
        "schema",
        "testing",
        "urls",
    }
)


def structural_problems(cls: Any) -> list[str]:
    """Problems that make ``cls`` unusable: not a Collector, bad key, bad columns/assertions."""
    if not (inspect.isclass(cls) and issubclass(cls, Collector)):
        return [f"{cls!r} is not a Collector subclass"]
    problems: list[str] = []
    key = cls.key
    if not isinstance(key, str) or not KEY_RE.match(key):
        problems.append(f"key {key!r} must match {KEY_RE.pattern} (<source>_<subject>)")
    if inspect.isabstract(cls):
        problems.append("collect() is not implemented")
    columns = cls.columns
    if not isinstance(columns, tuple | list) or not columns:
        problems.append("columns must be a non-empty tuple of Column")
        columns = ()
    names = [getattr(c, "name", None) for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1 and isinstance(n, str)})
    for name in duplicates:
        problems.append(f"column {name!r} is declared more than once")
    if cls.resource_column not in names:
        problems.append(f"resource_column {cls.resource_column!r} is not a declared column")
    ids = [a.id for a in cls.assertions]
    for assertion_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"assertion id {assertion_id!r} is declared more than once")
    for a in cls.assertions:
        if not str(a.id).startswith(f"{key}."):
            problems.append(f"assertion id {a.id!r} must start with {key + '.'!r}")
        if a.per not in ("row", "table"):
            problems.append(f"assertion {a.id!r}: per must be 'row' or 'table', not {a.per!r}")
        if not callable(a.check):
            problems.append(f"assertion {a.id!r}: check is not callable")
    return problems


def lint_params(params: Iterable[Any], *, where: str = "param") -> list[str]:
    """Problems in a params declaration (collector params or assertion thresholds)."""
    problems: list[str] = []
    seen: set[str] = set()
    for param in params:
        if not isinstance(param, Param):
            problems.append(f"{where} {param!r} is not a Param")
            continue
        label = f"{where} {param.name!r}"
        if not isinstance(param.name, str) or not NAME_RE.match(param.name):
            problems.append(f"{label}: name must match {NAME_RE.pattern}")
        if param.name in seen:
            problems.append(f"{label} is declared more than once")
        seen.add(param.name)
        if param.type not in PARAM_TYPES:
            allowed = ", ".join(sorted(PARAM_TYPES))
            problems.append(f"{label}: type {param.type!r} is not one of {allowed}")
            continue
        if param.secret and param.default is not None:
            problems.append(f"{label}: a secret param must not have a default")
        if param.default is not None:
            try:
                param.coerce(param.default)
            except ValueError as exc:
                problems.append(f"{label}: default {param.default!r} is invalid: {exc}")
        if param.choices is not None:
            if not param.choices:
                problems.append(f"{label}: choices is empty")
            for choice in param.choices:
                try:
                    Param(param.name, param.type).coerce(choice)
                except ValueError:
                    problems.append(f"{label}: choice {choice!r} is not a valid {param.type}")
    return problems


def _destination_problems(cls: type[Collector]) -> list[str]:
    """A collector with secrets declares every URL/host-like param ``destination=True``."""
    params = [p for p in cls.params if isinstance(p, Param)]
    if not any(p.secret for p in params):
        return []
    return [
        f"param {p.name!r} looks like a URL, host or ARN of a collector with secrets: declare "
        "it destination=True so that changing it requires re-entering the secrets"
        for p in params
        if not p.destination and not p.secret and DESTINATION_NAME_RE.search(p.name)
    ]


def _module_problems(cls: type[Collector]) -> list[str]:
    module = cls.__module__ or ""
    parts = module.split(".")
    if parts[0] != "collectors" or len(parts) < 2 or parts[1] in SDK_MODULES:
        return []  # external plugins and test-local classes name their modules freely
    if parts[-1] != cls.key:
        return [f"built-in module {module!r} must be named after the key ({cls.key!r})"]
    if len(parts) >= 3 and parts[1] != cls.source:
        return [f"built-in module {module!r} must live in collectors/{cls.source}/"]
    return []


def lint_collector(cls: Any, known_controls: set[str] | None = None) -> list[str]:
    """Return every conformance problem of collector class ``cls`` (``[]`` when clean).

    With ``known_controls``, control IDs not in that set are reported as well.
    """
    problems = structural_problems(cls)
    if problems and not (inspect.isclass(cls) and issubclass(cls, Collector)):
        return problems
    if not isinstance(cls.title, str) or not cls.title.strip():
        problems.append("title is empty")
    elif len(cls.title) > MAX_TITLE_LENGTH:
        problems.append(f"title is longer than {MAX_TITLE_LENGTH} characters")
    if not cls.description():
        problems.append("docstring is missing")
    if isinstance(cls.version, bool) or not isinstance(cls.version, int) or cls.version < 1:
        problems.append(f"version {cls.version!r} must be an int >= 1")
    if not isinstance(cls.source, str) or not NAME_RE.match(cls.source or ""):
        problems.append(f"source {cls.source!r} is invalid")
    elif isinstance(cls.key, str) and not cls.key.startswith(cls.source + "_"):
        problems.append(f"key {cls.key!r} must start with the source {cls.source + '_'!r}")
    for column in cls.columns:
        name = getattr(column, "name", column)
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"column {name!r}: name must match {NAME_RE.pattern}")
        if getattr(column, "dtype", None) not in COLUMN_DTYPES:
            allowed = ", ".join(sorted(COLUMN_DTYPES))
            problems.append(f"column {name!r}: dtype {column.dtype!r} is not one of {allowed}")
        if not str(getattr(column, "description", "")).strip():
            problems.append(f"column {name!r}: description is empty")
    problems.extend(lint_params(cls.params))
    problems.extend(_destination_problems(cls))
    permissions = cls.permissions
    if not isinstance(permissions, tuple | list) or not all(
        isinstance(p, str) and p.strip() for p in permissions
    ):
        problems.append("permissions must be a tuple of non-empty strings")
    elif len(set(permissions)) != len(permissions):
        problems.append("permissions contain duplicates")
    if cls.source == "aws" and not permissions:
        problems.append("permissions must be declared for an aws collector")
    if not isinstance(cls.max_age, timedelta) or cls.max_age <= timedelta(0):
        problems.append("max_age must be a positive timedelta")
    if not isinstance(cls.identity_population, bool):
        problems.append("identity_population must be a bool")
    problems.extend(_app_register_problems(cls))
    for a in cls.assertions:
        problems.extend(_assertion_problems(a, known_controls))
    problems.extend(_module_problems(cls))
    return problems


def _app_register_problems(cls: type[Collector]) -> list[str]:
    """An app register says where its rows are recorded and has nothing to connect to."""
    if not isinstance(cls.app_register, bool):
        return ["app_register must be a bool"]
    recorded_in = cls.recorded_in
    if not isinstance(recorded_in, str):
        return ["recorded_in must be a string"]
    if not cls.app_register:
        if recorded_in.strip():
            return ["recorded_in is set but app_register is not: set app_register = True"]
        return []
    problems: list[str] = []
    if not recorded_in.strip():
        problems.append(
            "an app register must say where its rows are recorded (recorded_in), for the "
            "messages that refuse to run it"
        )
    if cls.push:
        problems.append("a collector is either pushed (push) or an app register, not both")
    if cls.params:
        problems.append("an app register declares no params: it has no connection to configure")
    if cls.permissions:
        problems.append("an app register declares no permissions: it calls no API")
    return problems


def _assertion_problems(a: Assertion, known_controls: set[str] | None) -> list[str]:
    label = f"assertion {a.id!r}"
    problems: list[str] = []
    if not ASSERTION_ID_RE.match(str(a.id)):
        problems.append(f"{label}: id must be <key>.<what> in lowercase snake case")
    if not isinstance(a.title, str) or not a.title.strip():
        problems.append(f"{label}: title is empty")
    if not isinstance(a.severity, Severity):
        problems.append(f"{label}: severity {a.severity!r} is not a Severity")
    if not isinstance(a.remediation, str) or not a.remediation.strip():
        problems.append(f"{label}: remediation is empty")
    if not isinstance(a.rationale, str) or not a.rationale.strip():
        problems.append(
            f"{label}: rationale is empty (say why the check supports its controls: "
            "auditors read it next to every finding)"
        )
    if not a.controls:
        problems.append(f"{label}: maps to no control")
    for control in a.controls:
        if not isinstance(control, str) or not CONTROL_ID_RE.match(control):
            problems.append(f"{label}: control id {control!r} must match {CONTROL_ID_RE.pattern}")
        elif known_controls is not None and control not in known_controls:
            problems.append(f"{label}: control id {control!r} is not in any loaded catalog")
    if len(set(a.controls)) != len(a.controls):
        problems.append(f"{label}: controls contain duplicates")
    problems.extend(lint_params(a.params, where=f"{label} threshold"))
    return problems
