"""Benchmark: a full AWS collection against a seeded moto server on 127.0.0.1.

For each N given (default 200 and 1000) the script starts the sandbox moto server, seeds N
of each resource type (buckets, volumes, DB instances, KMS keys, load balancers with two
listeners each, IAM users, DynamoDB tables, backup vaults; see ``pixaudit.demo.aws_sandbox``),
then runs every registered AWS collector once, in turn, exactly as the runner does
(``collectors.testing.run_collector``), through ``AWS_ENDPOINT_URL``. It prints per
collector the rows, seconds and API calls, and in total seconds per 1,000 resources (rows)
and API calls per resource. API calls are counted by a botocore ``before-call`` hook, so
retries of one call count once.

Usage::

    .venv/bin/python benchmarks/bench_aws.py            # N = 200 and 1000
    .venv/bin/python benchmarks/bench_aws.py 50         # a quick run

moto answers in-process from one Python server, so the absolute times measure the
collectors plus moto, not AWS; calls per resource carry over to AWS directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import registry  # noqa: E402
from collectors.testing import run_collector  # noqa: E402
from pixaudit.demo.aws_sandbox import (  # noqa: E402
    SANDBOX_CREDENTIALS,
    SANDBOX_PARAMS,
    seed_sandbox,
    start_moto_server,
)

THRESHOLDS = {"aws_s3_buckets": {"aws_s3_buckets.lifecycle_expiration": {"tag_key": "data"}}}


class CallCounter:
    """An ``aws_session_factory`` that counts every API call of the sessions it makes."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1

    def __call__(self, region: str | None) -> Any:
        import boto3.session

        session = boto3.session.Session(region_name=region, **SANDBOX_CREDENTIALS)
        session.events.register("before-call", self._count)
        return session


def bench(n: int) -> dict[str, float]:
    """Seed ``n`` of each type, collect everything once, print and return the totals."""
    url, stop = start_moto_server()
    try:
        started = time.perf_counter()
        seed_sandbox(url, n=n)
        print(f"\nN={n}: seeded in {time.perf_counter() - started:.1f} s ({url})")
        os.environ["AWS_ENDPOINT_URL"] = url
        rows = calls = 0
        seconds = 0.0
        print(f"{'collector':<22}{'rows':>7}{'seconds':>9}{'calls':>8}{'errors':>8}")
        for cls in sorted(
            (c for c in registry.all_collectors() if c.source == "aws"), key=lambda c: c.key
        ):
            counter = CallCounter()
            began = time.perf_counter()
            result = run_collector(
                cls,
                SANDBOX_PARAMS,
                thresholds=THRESHOLDS.get(cls.key),
                aws_session_factory=counter,
            )
            took = time.perf_counter() - began
            rows, calls, seconds = rows + len(result.rows), calls + counter.calls, seconds + took
            print(
                f"{cls.key:<22}{len(result.rows):>7}{took:>9.2f}{counter.calls:>8}"
                f"{len(result.errors):>8}"
            )
        totals = {
            "resources": rows,
            "seconds": seconds,
            "api_calls": calls,
            "seconds_per_1000_resources": seconds / rows * 1000,
            "api_calls_per_resource": calls / rows,
        }
        print(
            f"total: {rows} resources, {seconds:.1f} s, {calls} API calls -> "
            f"{totals['seconds_per_1000_resources']:.2f} s per 1,000 resources, "
            f"{totals['api_calls_per_resource']:.2f} API calls per resource"
        )
        return totals
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="*", type=int, default=[200, 1000], help="resources per type")
    args = parser.parse_args(argv)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    registry.discover(strict=True)
    for n in args.n:
        bench(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
