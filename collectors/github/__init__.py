"""GitHub collectors (github.com and GitHub Enterprise Server REST API)."""

from __future__ import annotations
