"""THE canonical form of evidence: one function turns a value into bytes.

Hashing, artifact storage, chain verification and evidence packs all go through
:func:`canonical_bytes`, so the same logical value always yields the same bytes and the same
SHA-256, on every machine and every Python version we support.

Rules:

- JSON, keys sorted, no insignificant whitespace (``separators=(",", ":")``), UTF-8 without
  ``\\u`` escapes for non-ASCII (``ensure_ascii=False``).
- ``datetime`` → UTC ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` (naive values are taken as UTC, the
  same contract as ``collectors.schema.format_datetime``); ``date`` → ``"YYYY-MM-DD"``.
- ``float`` → Python's shortest round-trip ``repr`` (stable since 3.1, identical across
  platforms); ``-0.0`` becomes ``0.0``; NaN and ±Infinity are rejected (JSON has no such
  values and they would make two different collections compare equal or unequal at random).
- ``Decimal`` → its exact decimal string (e.g. ``"12.50"``): converting to float would lose
  precision, and the column dtype already says how to read it.
- tuples → lists; enums (e.g. ``Status``) → their value; sets and frozensets are rejected
  (no defined order); mapping keys must be strings.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

__all__ = [
    "CanonicalFormError",
    "canonical_bytes",
    "canonical_bytes_with_list",
    "canonical_parts_with_list",
    "format_datetime",
    "sha256_hex",
]

_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class CanonicalFormError(ValueError):
    """A value has no canonical form (NaN, a set, a non-string key, an unknown type)."""


def format_datetime(value: datetime) -> str:
    """The canonical text of a datetime: UTC, microseconds, ``Z`` (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_DATETIME_FORMAT)


def _normalise(value: Any, path: str) -> Any:
    # Fast paths first: evidence is mostly str/int/bool/None inside dicts and lists.
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalFormError(
                    f"{path}: mapping key {key!r} is a {type(key).__name__}, keys must be strings"
                )
            out[key] = _normalise(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalFormError(f"{path}: {value!r} has no canonical form (NaN/Infinity)")
        return 0.0 if value == 0 else value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CanonicalFormError(f"{path}: {value!r} has no canonical form (NaN/Infinity)")
        return str(value)
    if isinstance(value, Enum):
        return _normalise(value.value, path)
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass is serialised as its plain text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, set | frozenset):
        raise CanonicalFormError(f"{path}: sets have no defined order; pass a sorted list")
    raise CanonicalFormError(f"{path}: {type(value).__name__} has no canonical form")


def canonical_bytes(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON bytes of ``obj`` (see the module docstring)."""
    normalised = _normalise(obj, "$")
    text = json.dumps(
        normalised,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def canonical_parts_with_list(obj: dict[str, Any], key: str, items: Sequence[bytes]) -> list[bytes]:
    """The canonical bytes of ``{**obj, key: values}`` as a list of parts whose concatenation
    is exactly ``canonical_bytes({**obj, key: values})``; ``items`` are the canonical bytes
    of ``values``' elements, already computed (and in order).

    The runner canonicalises each row once (to sort rows and to count the artifact's size
    as it goes); reusing those bytes avoids encoding every row a second time, and keeping
    them as parts (hashed and written one after the other) avoids a second whole copy of a
    large artifact in memory.
    """
    if key in obj:
        raise ValueError(f"{key!r} is already in the document")
    parts: list[bytes] = [b"{"]
    for position, name in enumerate(sorted([*obj, key])):  # json.dumps' sort_keys order
        if position:
            parts.append(b",")
        parts.append(canonical_bytes(name))
        parts.append(b":")
        if name != key:
            parts.append(canonical_bytes(obj[name]))
            continue
        parts.append(b"[")
        for index, item in enumerate(items):
            if index:
                parts.append(b",")
            parts.append(item)
        parts.append(b"]")
    parts.append(b"}")
    return parts


def canonical_bytes_with_list(obj: dict[str, Any], key: str, items: Sequence[bytes]) -> bytes:
    """``b"".join(canonical_parts_with_list(obj, key, items))``."""
    return b"".join(canonical_parts_with_list(obj, key, items))


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types (tuples become lists) for a JSONField, e.g. provenance."""
    return json.loads(canonical_bytes(value))


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
