"""pixaudit collector SDK: the only import path collectors and plugins use.

A collector is one :class:`Collector` subclass in one module, registered with
:func:`register`. Built-ins live in ``collectors/<source>/<key>.py``; external packages
declare an entry point in the ``pixaudit.collectors`` group. This package never imports
Django or pixaudit.
"""

from __future__ import annotations

from collectors import registry
from collectors._http import RetryBudget
from collectors.base import (
    Assertion,
    Collector,
    CollectorError,
    Column,
    ErrorKind,
    Finding,
    Outcome,
    Param,
    ParamError,
    Severity,
    Status,
    assertion,
)
from collectors.context import CollectionContext
from collectors.registry import register

__all__ = [
    "Assertion",
    "CollectionContext",
    "Collector",
    "CollectorError",
    "Column",
    "ErrorKind",
    "Finding",
    "Outcome",
    "Param",
    "ParamError",
    "RetryBudget",
    "Severity",
    "Status",
    "assertion",
    "register",
    "registry",
]
