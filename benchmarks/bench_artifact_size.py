"""Artifact size limit: peak memory of a collection far above / below PIXAUDIT_ARTIFACT_MAX_BYTES.

    .venv/bin/python benchmarks/bench_artifact_size.py [--mb 400] [--limit-mb 256]

Runs one collection of a synthetic collector whose rows add up to about ``--mb`` MiB of
canonical JSON, in a fresh process each time (so each peak RSS is its own): once with the
limit above the artifact (stored), once with ``--limit-mb`` (refused). Prints the outcome,
the message, the time and the peak resident memory of each (issue 13.6).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--mb", type=int, default=400, help="approximate artifact size (MiB)")
parser.add_argument("--limit-mb", type=int, default=256)
parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
args = parser.parse_args()

ROW_BYTES = 1024  # each row is about 1 KiB of canonical JSON


def child() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _setup import setup_django

    setup_django("pixaudit_bench_artifact_size")
    from django.conf import settings

    from collectors import Collector, Column, Param, registry
    from pixaudit.evidence import services

    settings.PIXAUDIT_ARTIFACT_MAX_BYTES = args.limit_mb * 1024 * 1024

    class BenchBlobsCollector(Collector):
        """Synthetic rows of about 1 KiB each."""

        key = "bench_blobs"
        title = "Benchmark blobs"
        params = (Param("n", "integer", default=1),)
        columns = (Column("name", "string", "Name."), Column("text", "string", "Padding."))
        resource_column = "name"
        max_age = timedelta(days=1)

        def collect(self, ctx):
            pad = "p" * (ROW_BYTES - 40)
            return [{"name": f"blob-{i:09d}", "text": pad} for i in range(ctx.params["n"])]

    rows = args.mb * 1024 * 1024 // ROW_BYTES
    with registry.temporarily(BenchBlobsCollector):
        conn = services.connection_create(name="b", collector_key="bench_blobs", params={"n": rows})
        run = services.collection_run_create(connection=conn, trigger="manual")
        start = time.perf_counter()
        run = services.collection_run_execute(run_id=run.pk)
        seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{rows:,} rows, limit {args.limit_mb} MiB: {run.status} in {seconds:.1f} s, "
        f"peak RSS {peak_mib:,.0f} MiB; {run.error_message[:160]}"
    )


def parent() -> None:
    for limit in (args.mb * 2, args.limit_mb):
        command = [sys.executable, __file__, "--child", "--mb", str(args.mb)]
        command += ["--limit-mb", str(limit)]
        subprocess.run(command, check=True, env=os.environ)


if args.child:
    child()
else:
    parent()
