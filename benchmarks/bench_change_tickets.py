"""Benchmark: the change-ticket join over a 10,000-change ``github_pull_requests`` item.

Appends one ``github_pull_requests`` item of ``--changes`` rows (every column, about 0.9 KB
each, two cited keys per change) and one ``jira_changes`` item of ``--tickets`` tickets
with their ``approved_before_done`` findings, then runs ``change_tickets_refresh`` once
(rows, evaluation, append) and reads the pull-request artifact two ways, reporting
``tracemalloc`` peaks: ``artifact_rows`` (streamed, five columns kept) against
``json.loads`` of the whole artifact followed by the same projection.

Usage::

    .venv/bin/python benchmarks/bench_change_tickets.py                  # 10,000 changes
    .venv/bin/python benchmarks/bench_change_tickets.py --changes 2000 --tickets 1000

``BENCH_POSTGRES_URL`` names the server (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--changes", type=int, default=10000)
parser.add_argument("--tickets", type=int, default=5000)
args = parser.parse_args()
setup_django("pixaudit_bench_change_tickets")

from django.utils import timezone  # noqa: E402

from collectors.base import Finding, Severity, Status  # noqa: E402
from pixaudit.changes.services import _CHANGE_COLUMNS, change_tickets_refresh  # noqa: E402
from pixaudit.evidence.models import Connection  # noqa: E402
from pixaudit.evidence.selectors_artifacts import artifact_rows  # noqa: E402
from pixaudit.evidence.services.append import evidence_append  # noqa: E402
from pixaudit.evidence.storage import artifact_read  # noqa: E402


def _pr(i: int) -> dict:
    repo = f"acme/repo{i % 200}"
    return {
        "pull_request": f"{repo}#{i}", "change_type": "pull_request", "repository": repo,
        "number": i, "title": f"PAY-{i} change number {i} with a realistic title", "url":
        f"https://github.com/{repo}/pull/{i}", "author": f"user{i % 40}", "base_branch": "main",
        "head_branch": f"feature/PAY-{i}", "head_sha": f"{i:040x}",
        "merge_commit_sha": f"{i + 1:040x}", "merged_at": "2026-11-28T11:59:00.000000Z",
        "merged_by": "bob", "approvers": ["bob"], "required_checks": ["ci/test"],
        "check_conclusions": {"ci/test": "success"},
        "issue_keys": [f"PAY-{i}", f"OPS-{i % 100 + 1}"], "read_error": None,
        "branch_protection": {"protected": True, "reviews_required": True},
        "push_events_from": "2026-09-02T00:00:00.000000Z", "push_events_cover_window": True,
        "push_check_error": None,
    }  # fmt: skip


def _append(key: str, conn: Connection, rows: list[dict], findings: list[Finding]):
    now = timezone.now()
    return evidence_append(collector_key=key, document={"collector": {"key": key}, "rows": rows},
                           collected_at=now, expires_at=now + timedelta(days=1),
                           findings=findings, rows_count=len(rows),
                           connection_id=conn.pk)  # fmt: skip


github = Connection.objects.create(name="bench github", collector_key="github_pull_requests")
jira = Connection.objects.create(name="bench jira", collector_key="jira_changes")
prs = _append("github_pull_requests", github, [_pr(i) for i in range(1, args.changes + 1)], [])
approval = "jira_changes.approved_before_done"
tickets = [{"key": f"PAY-{i}"} for i in range(1, args.tickets + 1)]
verdicts = [Finding(approval, t["key"], Status.PASS if i % 3 else Status.FAIL, Severity.HIGH,
                    f"{t['key']} verdict") for i, t in enumerate(tickets)]  # fmt: skip
_append("jira_changes", jira, tickets, verdicts)
print(f"github_pull_requests artifact: {prs.size / 1e6:.1f} MB, {prs.row_count} rows")

gc.collect()
tracemalloc.start()
started = time.perf_counter()
item = change_tickets_refresh(reason="benchmark")
elapsed = time.perf_counter() - started
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(f"change_tickets_refresh: {item.row_count} rows, {item.findings_count} findings, "
      f"{elapsed:.1f} s, tracemalloc peak {peak / 2**20:.0f} MiB")  # fmt: skip

ways = {
    "json.loads, then project": lambda: [
        {c: r.get(c) for c in _CHANGE_COLUMNS}
        for r in json.loads(artifact_read(prs.artifact_path))["rows"]
    ],
    "artifact_rows (streamed)": lambda: list(artifact_rows(prs, _CHANGE_COLUMNS)),
}
for name, read in ways.items():
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    kept = read()
    elapsed = time.perf_counter() - started
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{name}: {len(kept)} rows in {elapsed:.2f} s, kept {current / 2**20:.1f} MiB, "
          f"peak {peak / 2**20:.1f} MiB")  # fmt: skip
    del kept
