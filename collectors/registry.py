"""The collector registry: ``@register``, lookup, and discovery of built-ins and plugins.

Built-ins are found by walking the ``collectors`` package (subpackages such as
``collectors/aws/``; modules whose name starts with ``_`` and the SDK modules are skipped).
External packages declare entry points in the group ``pixaudit.collectors``
(``<key> = "pkg.module:Class"``). Both paths go through the same validation. Import failures
are collected in :data:`load_errors` and raised when ``strict=True``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import pkgutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from collectors.base import Collector
from collectors.lint import SDK_MODULES, structural_problems

__all__ = [
    "ENTRY_POINT_GROUP",
    "RegistryError",
    "all_collectors",
    "all_control_ids_used",
    "discover",
    "get",
    "load_errors",
    "register",
    "temporarily",
    "unregister",
]

logger = logging.getLogger(__name__)

#: Entry-point group external collector packages declare.
ENTRY_POINT_GROUP = "pixaudit.collectors"

C = TypeVar("C", bound=type[Collector])

_collectors: dict[str, type[Collector]] = {}
_lock = threading.RLock()
_discovered = False
#: ``(module or entry point, error text)`` for every plugin or module that failed to load.
load_errors: list[tuple[str, str]] = []


class RegistryError(Exception):
    """Invalid or duplicate registration, unknown key, or (strict) discovery failures."""


def register(cls: C) -> C:
    """Class decorator: validate ``cls`` structurally and add it to the registry.

    Registering the same class twice is a no-op; another class with the same key is an error.
    """
    problems = structural_problems(cls)
    if problems:
        raise RegistryError(f"cannot register {cls!r}: " + "; ".join(problems))
    with _lock:
        existing = _collectors.get(cls.key)
        if existing is not None and existing is not cls:
            raise RegistryError(
                f"duplicate collector key {cls.key!r}: {_qualname(existing)} and {_qualname(cls)}"
            )
        _collectors[cls.key] = cls
    return cls


def unregister(key: str) -> None:
    """Remove ``key`` from the registry (no error if absent)."""
    with _lock:
        _collectors.pop(key, None)


def get(key: str) -> type[Collector]:
    """Return the collector class registered under ``key`` (``KeyError`` if unknown)."""
    with _lock:
        try:
            return _collectors[key]
        except KeyError:
            raise KeyError(f"unknown collector {key!r}") from None


def all_collectors() -> list[type[Collector]]:
    """Every registered collector class, sorted by key."""
    with _lock:
        return [_collectors[k] for k in sorted(_collectors)]


def all_control_ids_used() -> set[str]:
    """Every control ID referenced by a registered collector's assertions.

    Call :func:`discover` first; the Django side checks these against the loaded catalogs.
    """
    return {c for cls in all_collectors() for a in cls.assertions for c in a.controls}


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _builtin_module_names() -> Iterator[str]:
    """Names of the built-in collector modules (imports subpackages to walk them)."""
    import collectors

    def onerror(name: str) -> None:
        import sys

        exc = sys.exc_info()[1]
        load_errors.append((name, _error_text(exc) if exc else "import failed"))

    for info in pkgutil.walk_packages(collectors.__path__, "collectors.", onerror=onerror):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts[1:]):
            continue
        if len(parts) == 2 and parts[1] in SDK_MODULES:
            continue
        if info.ispkg:
            continue
        yield info.name


def _load_builtins() -> None:
    for name in _builtin_module_names():
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken module must not hide the others
            load_errors.append((name, _error_text(exc)))
            logger.exception("cannot import collector module %s", name)


def _load_entry_points() -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        label = f"{ENTRY_POINT_GROUP}:{ep.name} = {ep.value}"
        try:
            cls: Any = ep.load()
        except Exception as exc:  # a broken plugin must not hide the others
            load_errors.append((label, _error_text(exc)))
            logger.exception("cannot load collector plugin %s", label)
            continue
        if not (inspect.isclass(cls) and issubclass(cls, Collector)):
            load_errors.append((label, f"{cls!r} is not a Collector subclass"))
            continue
        if ep.name != cls.key:
            load_errors.append((label, f"entry point name must equal the key {cls.key!r}"))
            continue
        try:
            register(cls)
        except RegistryError as exc:
            load_errors.append((label, str(exc)))


def discover(*, strict: bool = False, refresh: bool = False) -> None:
    """Import every built-in collector module and load every ``pixaudit.collectors`` plugin.

    Idempotent: after the first call it only re-raises (when ``strict``) the recorded
    :data:`load_errors`, unless ``refresh=True`` forces a new scan (new entry points or
    modules). With ``strict=True`` any load error raises :class:`RegistryError`.
    """
    global _discovered
    with _lock:
        if refresh or not _discovered:
            load_errors.clear()
            importlib.invalidate_caches()
            _load_builtins()
            _load_entry_points()
            _discovered = True
        if strict and load_errors:
            detail = "\n".join(f"  {name}: {error}" for name, error in load_errors)
            raise RegistryError(f"{len(load_errors)} collector(s) failed to load:\n{detail}")


@contextmanager
def temporarily(*classes: type[Collector]) -> Iterator[None]:
    """Register ``classes`` for the duration of a ``with`` block (or a decorated test)."""
    added: list[str] = []
    try:
        for cls in classes:
            with _lock:
                already = _collectors.get(cls.key) is cls
            register(cls)
            if not already:
                added.append(cls.key)
        yield
    finally:
        for key in added:
            unregister(key)
