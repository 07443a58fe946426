"""Linear collectors (Linear's public GraphQL API)."""

from __future__ import annotations
