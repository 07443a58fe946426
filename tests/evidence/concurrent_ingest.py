"""Helper process for test_concurrency: ingest N runs of one connection as fast as possible.

Usage: python -m tests.evidence.concurrent_ingest CONNECTION_ID N START_AT_EPOCH
(environment: DJANGO_SETTINGS_MODULE, DATABASE_URL of the test database, PIXAUDIT_VAR_DIR).
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from collectors import registry  # noqa: E402
from pixaudit.evidence.models import Connection  # noqa: E402
from pixaudit.evidence.services import (  # noqa: E402
    collection_run_create,
    collection_run_execute,
)
from tests.evidence.conftest import InventoryCollector  # noqa: E402


def main() -> int:
    conn_id, count, start_at = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    with registry.temporarily(InventoryCollector):
        conn = Connection.objects.get(pk=conn_id)
        # Both processes start at the same instant so their ingests overlap.
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(count):
            run = collection_run_create(connection=conn, trigger="manual")
            run = collection_run_execute(run_id=run.pk)
            if run.status != "succeeded":
                print(f"run {run.pk} failed: {run.error_message}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
