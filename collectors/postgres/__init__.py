"""PostgreSQL collectors (psycopg 3)."""

from __future__ import annotations
