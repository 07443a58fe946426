"""Benchmark: the REST API pushing 1,000-row documents and reading 100,000 findings by cursor.

Uses a dedicated database (``pixaudit_bench_api``, recreated per run). Step 1 pushes
``--pushes`` requests of ``--rows`` ``ci_deployments`` rows each (two assertions per row, so
the default 50 × 1,000 rows stores 100,000 findings) through ``POST /api/v1/push/…/``: the
whole server path (authentication, rate limits, validation, evaluation, canonical artifact,
chain append, COPY of the findings, current state, audit log). Step 2 reads every finding
through ``GET /api/v1/findings/`` following the ``next`` cursor, with ``page_size`` 1,000 and
100. Requests go through Django's test client (server time, no network). Prints requests per
second, median and p95 latency, and findings per second.

Usage::

    .venv/bin/python benchmarks/bench_api.py                  # 50 pushes of 1,000 rows
    .venv/bin/python benchmarks/bench_api.py --pushes 10 --rows 1000

``BENCH_POSTGRES_URL`` names the server (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--pushes", type=int, default=50)
parser.add_argument("--rows", type=int, default=1000)
args = parser.parse_args()

os.environ["DEBUG"] = "false"
os.environ["PIXAUDIT_API_RATE_PER_TOKEN"] = "1000000/minute"
os.environ["PIXAUDIT_API_RATE_PER_IP"] = "1000000/minute"
setup_django("pixaudit_bench_api")

from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from pixaudit.accounts.models import Role  # noqa: E402
from pixaudit.accounts.services import user_create  # noqa: E402
from pixaudit.api.services import token_create  # noqa: E402
from pixaudit.evidence.models import Finding  # noqa: E402

setup_test_environment()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def rows_for(push: int) -> list[dict]:
    return [
        {
            "deployment": f"acme/svc-{i % 50}@production#{push}-{i}",
            "repository": f"acme/svc-{i % 50}",
            "environment": "production",
            "commit": f"{push:08x}{i:032x}",
            "change_ref": f"https://github.com/acme/svc-{i % 50}/pull/{push * 10_000 + i}",
            "author": f"dev-{i % 17}",
            "reviewers": [f"dev-{(i + 1) % 17}"] if i % 10 else [f"dev-{i % 17}"],
            "tests_passed": i % 25 != 0,
            "deployed_at": f"2026-03-{1 + push % 28:02d}T10:{i % 60:02d}:00Z",
            "pipeline_url": f"https://ci.example.com/acme/runs/{push}-{i}",
        }
        for i in range(args.rows)
    ]


def summary(name: str, times: list[float], items: int, unit: str) -> str:
    total = sum(times)
    return (
        f"{name}: {len(times)} requests in {total:.2f} s = {len(times) / total:.1f} req/s; "
        f"median {statistics.median(times) * 1000:.0f} ms, p95 {p95(times) * 1000:.0f} ms; "
        f"{items / total:,.0f} {unit}/s"
    )


user = user_create(username="bench-ci", email="ci@example.com", role=Role.ENGINEER,
                   password="a-long-bench-password-1")  # fmt: skip
secret = token_create(user=user, name="bench", scopes=["read", "write:evidence"]).secret
client = Client(headers={"Authorization": f"Bearer {secret}"})

bodies = [json.dumps({"rows": rows_for(n), "metadata": {"repository": "acme/svc"}})
          for n in range(args.pushes)]  # fmt: skip
push_times = []
for body in bodies:
    started = time.perf_counter()
    response = client.post("/api/v1/push/ci_deployments/", body, content_type="application/json")
    push_times.append(time.perf_counter() - started)
    assert response.status_code == 201, response.content[:500]
findings = Finding.objects.count()
print(f"pushed {args.pushes} × {args.rows:,} rows; {findings:,} findings stored")
print(summary(f"push ({args.rows:,} rows/request)", push_times, args.pushes * args.rows, "rows"))

for page_size in (1000, 100):
    url = f"/api/v1/findings/?page_size={page_size}"
    times, seen = [], 0
    while url:
        started = time.perf_counter()
        response = client.get(url)
        body = response.json()
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:500]
        seen += len(body["results"])
        url = body["next"]
    assert seen == findings, (seen, findings)
    print(summary(f"read findings, page_size {page_size}", times, seen, "findings"))
