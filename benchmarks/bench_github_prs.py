"""github_pull_requests over a generated organisation: wall time, calls, peak RSS.

The fixture server runs in a child process and generates every response (200 repositories,
each with its branch protection and one page of events, the merge pushes; N merged pull
requests spread evenly, a list item, the pull request, two reviews and three check runs
each, about 9 KB of JSON per pull request); each size is measured in a fresh Python
process, so peak RSS (``getrusage``) is the collector's alone::

    .venv/bin/python benchmarks/bench_github_prs.py 1000 10000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPOS = 200


def measure(prs: int, repos: int) -> str:
    """Collect ``prs`` pull requests over ``repos`` repositories; one result line."""
    sys.path.insert(0, str(ROOT))
    from collectors.github._generated import serve_generated_pull_requests
    from collectors.github.github_pull_requests import GithubPullRequestsCollector
    from collectors.testing import run_collector

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with serve_generated_pull_requests(repos, prs // repos) as server:
        start = time.perf_counter()
        result = run_collector(
            GithubPullRequestsCollector,
            {"org": "bench-org", "token": "ghp_" + "b" * 36, "base_url": server.base_url},
            now=datetime(2026, 12, 1, tzinfo=UTC),
        )
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    passed = sum(f.status.value == "pass" for f in result.findings)
    return (
        f"prs={len(result.rows)} repos={repos} seconds={seconds:.1f} calls={server.requests} "
        f"calls_per_pr={server.requests / len(result.rows):.2f} findings={len(result.findings)} "
        f"passed={passed} rss_before_mib={before / 1024:.0f} peak_rss_mib={peak / 1024:.0f}"
    )


def main() -> int:
    """Measure each size in a fresh process and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--repos", type=int, default=REPOS)
    parser.add_argument("--one", action="store_true", help="measure one size in this process")
    args = parser.parse_args()
    if args.one:
        print(measure(args.sizes[0], args.repos), flush=True)
        return 0
    for size in args.sizes:
        command = [sys.executable, __file__, "--one", "--repos", str(args.repos), str(size)]
        subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
