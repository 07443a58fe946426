"""github_pull_requests over a generated organisation: wall time, calls, peak RSS.

The fixture server runs in a child process and generates every response (200 repositories,
each with its branch protection and one page of events, the merge pushes; N merged pull
requests spread evenly, a list item, the pull request, two reviews and three check runs
each, about 9 KB of JSON per pull request); each size runs in a fresh Python process, so
peak RSS (``getrusage``) is that run's alone.

Two modes:

- ``runner`` (default): end to end, as production runs it: an ad-hoc run of the collector
  executed by the runner (``collection_run_execute``), which collects, sorts and writes the
  artifact, evaluates, stores the artifact and ingests every finding, on a scratch
  database migrated beforehand in another process (SQLite in a temporary directory, or
  ``--database-url`` for PostgreSQL: the database is dropped and recreated).
- ``collector``: the SDK's ``run_collector`` (rows and findings kept in lists, as a test
  wants them).

::

    .venv/bin/python benchmarks/bench_github_prs.py 1000 10000
    .venv/bin/python benchmarks/bench_github_prs.py --mode collector 1000 10000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPOS = 200
TOKEN = "ghp_" + "b" * 36


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_collector(prs: int, repos: int) -> str:
    """Collect ``prs`` pull requests with ``run_collector``; one result line."""
    from collectors.github._generated import serve_generated_pull_requests
    from collectors.github.github_pull_requests import GithubPullRequestsCollector
    from collectors.testing import run_collector

    before = _rss_mib()
    with serve_generated_pull_requests(repos, prs // repos) as server:
        start = time.perf_counter()
        result = run_collector(
            GithubPullRequestsCollector,
            {"org": "bench-org", "token": TOKEN, "base_url": server.base_url},
            now=datetime(2026, 12, 1, tzinfo=UTC),
        )
        seconds = time.perf_counter() - start
    passed = sum(f.status.value == "pass" for f in result.findings)
    return (
        f"mode=collector prs={len(result.rows)} repos={repos} seconds={seconds:.1f} "
        f"calls={server.requests} calls_per_pr={server.requests / len(result.rows):.2f} "
        f"findings={len(result.findings)} passed={passed} rss_before_mib={before:.0f} "
        f"peak_rss_mib={_rss_mib():.0f}"
    )


def measure_runner(prs: int, repos: int) -> str:
    """Run the collector through the runner and store everything; one result line."""
    from collectors.github._generated import serve_generated_pull_requests

    # The server forks before Django opens any connection.
    with serve_generated_pull_requests(repos, prs // repos) as server:
        import django

        django.setup()
        from django.conf import settings

        from pixaudit.evidence.models import Finding
        from pixaudit.evidence.services import collection_run_create, collection_run_execute

        settings.PIXAUDIT_ALLOW_HTTP_LOOPBACK = True  # the fixture server is plain HTTP
        params = {"org": "bench-org", "token": TOKEN, "base_url": server.base_url}
        run = collection_run_create(
            collector_key="github_pull_requests", params=params, trigger="cli"
        )
        before = _rss_mib()
        start = time.perf_counter()
        run = collection_run_execute(run_id=run.pk)
        seconds = time.perf_counter() - start
        peak = _rss_mib()
    if run.status != "succeeded":
        raise SystemExit(f"run failed: {run.error_message}")
    stored = Finding.objects.filter(run=run).count()
    return (
        f"mode=runner prs={prs} rows={run.rows_count} repos={repos} seconds={seconds:.1f} "
        f"calls={server.requests} calls_per_pr={server.requests / prs:.2f} "
        f"findings_stored={stored} passed={run.findings_pass} "
        f"artifact_mib={run.result.evidence.size / 2**20:.1f} rss_before_mib={before:.0f} "
        f"peak_rss_mib={peak:.0f} growth_mib={peak - before:.0f}"
    )


def _scratch_database(url: str | None) -> dict[str, str]:
    """Environment of a migrated scratch database (SQLite unless ``url``)."""
    env = dict(os.environ)
    env["PIXAUDIT_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-prs-")
    env["DJANGO_SETTINGS_MODULE"] = "pixaudit.settings"
    env["DEBUG"] = "0"  # as in production: DEBUG keeps the SQL of the last 9,000 queries
    if url:
        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0] + "/postgres"
        for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
            subprocess.run(["psql", admin, "-q", "-c", sql], check=True)
        env["DATABASE_URL"] = url
    else:
        env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)  # jobs in-process; nothing is enqueued by a foreground run
    manage = [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"]
    subprocess.run(manage, check=True, env=env, cwd=ROOT)
    return env


def main() -> int:
    """Measure each size in a fresh process and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--repos", type=int, default=REPOS)
    parser.add_argument("--mode", choices=("runner", "collector"), default="runner")
    parser.add_argument("--database-url", help="a PostgreSQL URL to recreate and use")
    parser.add_argument("--one", action="store_true", help="measure one size in this process")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.one:
        measure = measure_runner if args.mode == "runner" else measure_collector
        print(measure(args.sizes[0], args.repos), flush=True)
        return 0
    for size in args.sizes:
        env = _scratch_database(args.database_url) if args.mode == "runner" else None
        command = [sys.executable, __file__, "--one", "--mode", args.mode,
                   "--repos", str(args.repos), str(size)]  # fmt: skip
        subprocess.run(command, check=True, env=env, cwd=ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
