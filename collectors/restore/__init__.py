"""Evidence of backup restore exercises, pushed by API (push collectors)."""

from __future__ import annotations
