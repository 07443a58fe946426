"""Evidence pushed by CI pipelines (push collectors: rows arrive by API)."""

from __future__ import annotations
