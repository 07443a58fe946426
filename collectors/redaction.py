"""The replacement text for secrets, shared by the context's log redaction and the params.

A bottom-layer module (it imports nothing from the ``collectors`` package), so the context
and the core types can both use it without importing each other.
"""

from __future__ import annotations

__all__ = ["REDACTED"]

#: Replacement text for secret values in logs, forms and docs.
REDACTED = "********"
