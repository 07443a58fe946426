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
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import registry  # noqa: E402
from collectors.testing import make_context, run_collector  # noqa: E402
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


#: Calls every collector makes whatever the resources: identity, role, region discovery.
OVERHEAD = ("sts:GetCallerIdentity", "sts:AssumeRole", "ec2:DescribeRegions")


def _users_with_keys(rows: list[dict[str, Any]]) -> int:
    return sum(1 for r in rows if r["access_keys"])


def _users_with_other_mfa(rows: list[dict[str, Any]]) -> int:
    """Users whose MFA is not a virtual device (ListMFADevices is their only read)."""
    return sum(1 for r in rows if any(":mfa/" not in d["serial_number"] for d in r["mfa_devices"]))


def _pages(rows: list[dict[str, Any]], page: int, regions: int = 2) -> int:
    """Listing pages: one per region at least, ``page`` items each (even spread)."""
    return max(regions, regions * math.ceil(len(rows) / regions / page))


#: The floor per collector, from AWS's API shapes: (formula, floor(rows)). Listings count
#: one page per region at least (page sizes: AWS's maximum for the call); per-resource calls
#: appear only where AWS has no batch read of the attribute.
FLOORS: dict[str, tuple[str, Any]] = {
    "aws_iam_users": (
        "GenerateCredentialReport + GetCredentialReport + GetAccountAuthorizationDetails "
        "(1,000 per page) + ListVirtualMFADevices (1,000 per page) + ListAccessKeys per user "
        "with a key (key ids exist nowhere else) + ListMFADevices per user with a "
        "non-virtual device",
        lambda r: (
            2
            + 2 * math.ceil(max(1, len(r)) / 1000)
            + _users_with_keys(r)
            + _users_with_other_mfa(r)
        ),
    ),
    "aws_s3_buckets": (
        "ListBuckets + 5 settings per bucket (encryption, policy, versioning, lifecycle, "
        "tagging; no batch read) + GetBucketLocation per bucket (AWS's ListBuckets gives "
        "BucketRegion and the collector then skips it; moto does not)",
        lambda r: 1 + 6 * len(r),
    ),
    "aws_kms_keys": (
        "ListKeys + ListAliases per region + DescribeKey and GetKeyRotationStatus per key",
        lambda r: 2 * 2 + 2 * len(r),
    ),
    "aws_dynamodb_tables": (
        "ListTables per region + DescribeTable and DescribeContinuousBackups per table",
        lambda r: _pages(r, 100) + 2 * len(r),
    ),
    "aws_elbv2_listeners": (
        "DescribeLoadBalancers per region + DescribeListeners per balancer (2 listeners each) "
        "+ DescribeSSLPolicies per region",
        lambda r: 2 + len(r) // 2 + 2,
    ),
    "aws_ebs_volumes": ("DescribeVolumes per region (500 per page)", lambda r: _pages(r, 500)),
    "aws_rds_instances": (
        "DescribeDBInstances per region (100 per page)",
        lambda r: _pages(r, 100),
    ),
    "aws_backup_vaults": (
        "ListBackupVaults per region (1,000 per page)",
        lambda r: _pages(r, 1000),
    ),
}


def print_floors(per_type: list[tuple[str, list[dict[str, Any]], dict[str, int]]]) -> None:
    """Calls (without the fixed identity/region calls) against the floor, per type."""
    print(f"\n{'type':<22}{'rows':>7}{'calls':>8}{'overhead':>9}{'floor':>7}{'ratio':>7}")
    for key, rows, counts in per_type:
        if key not in FLOORS:
            continue
        overhead = sum(counts.get(a, 0) for a in OVERHEAD)
        calls = sum(counts.values()) - overhead
        floor = FLOORS[key][1](rows)
        print(f"{key:<22}{len(rows):>7}{calls:>8}{overhead:>9}{floor:>7}{calls / floor:>7.2f}")
        detail = ", ".join(f"{a} {n}" for a, n in counts.items() if a not in OVERHEAD)
        print(f"    {detail}")


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
        per_type: list[tuple[str, list[dict[str, Any]], dict[str, int]]] = []
        print(f"{'collector':<22}{'rows':>7}{'seconds':>9}{'calls':>8}{'errors':>8}")
        for cls in sorted(
            (c for c in registry.all_collectors() if c.source == "aws"), key=lambda c: c.key
        ):
            counter = CallCounter()
            ctx = make_context(SANDBOX_PARAMS, aws_session_factory=counter)
            began = time.perf_counter()
            result = run_collector(cls, SANDBOX_PARAMS, ctx=ctx, thresholds=THRESHOLDS.get(cls.key))
            took = time.perf_counter() - began
            rows, calls, seconds = rows + len(result.rows), calls + counter.calls, seconds + took
            print(
                f"{cls.key:<22}{len(result.rows):>7}{took:>9.2f}{counter.calls:>8}"
                f"{len(result.errors):>8}"
            )
            per_type.append((cls.key, result.rows, ctx.api_call_counts))
        print_floors(per_type)
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
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
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
