"""Offline demo collectors: deterministic data, no cloud account or network needed."""

from __future__ import annotations
