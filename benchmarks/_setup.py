"""Shared set-up for benchmarks: a dedicated PostgreSQL database and a throwaway var dir.

Benchmarks never touch the development database: each uses its own database on the server
of ``BENCH_POSTGRES_URL`` (default ``postgres://postgres@127.0.0.1:5432``), recreated per run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"


def setup_django(name: str, *, fresh: bool = True) -> str:
    """Point Django at database ``name`` (recreated when ``fresh``), migrate, return its URL."""
    import psycopg

    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER).rstrip("/")
    url = f"{admin_url}/{name}"
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("PIXAUDIT_VAR_DIR", tempfile.mkdtemp(prefix="pixaudit-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixaudit.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url
