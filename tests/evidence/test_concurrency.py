"""Two real worker processes append to the chain at once: the chain must not fork."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import EvidenceItem, LatestResult
from pixaudit.evidence.services import connection_create

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = db_connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_ingesting_at_once_do_not_fork_the_chain(
    require_postgres, field_keys, inventory
):
    per_process = 10
    conns = []
    for n in range(2):
        items = [
            {"name": f"p{n}-res-{i:03d}", "encrypted": i % 3 != 0, "size": i} for i in range(300)
        ]
        conns.append(
            connection_create(
                name=f"worker {n}", collector_key=inventory.key, params={"items": items}
            )  # fmt: skip
        )
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PIXAUDIT_VAR_DIR": str(settings.VAR_DIR),  # same artifact store as this process
    }
    start_at = time.time() + 4  # after both interpreters have loaded Django
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.evidence.concurrent_ingest",
                str(c.pk),
                str(per_process),
                str(start_at),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for c in conns
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]

    seqs = list(EvidenceItem.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 2 * per_process + 1))  # contiguous: no fork, no gap
    owners = list(EvidenceItem.objects.order_by("seq").values_list("connection_id", flat=True))
    switches = sum(1 for a, b in zip(owners, owners[1:], strict=False) if a != b)
    assert switches > 1, f"the two workers did not overlap: {owners}"
    result = verify_chain()
    assert result.ok, result.problem
    assert result.count == 2 * per_process
    for conn in conns:  # 300 resources x 2 assertions each
        assert LatestResult.objects.filter(connection=conn).count() == 600
