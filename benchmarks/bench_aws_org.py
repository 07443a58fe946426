"""Benchmark: one AWS Organization run fanned out over 1, 2 and 4 real RQ workers.

For each organisation size N (default 50 and 200 member accounts) the script starts a moto
server on 127.0.0.1 (in this process; ``MOTO_EC2_LOAD_DEFAULT_AMIS=false``), seeds the
organisation (``pixaudit.demo.aws_org_sandbox``: the role and an S3 bucket, an IAM user and
an EBS volume in every member), then for each worker count W starts W
``manage.py rqworker collect`` processes against a dedicated PostgreSQL database and Redis
database, runs one integration run exactly as the scheduler would (listing job, then one job
per account), and waits until every account is done. It prints per (N, W): wall time
(first job claimed to last account finished), scaling efficiency (T1 / (W x TW)), API calls
(listing plus every collector run, from the provenance counts), and peak RSS: the largest
work horse (each account job runs in a fork of its worker; ``ru_maxrss`` at its end) and the
worker processes themselves (``VmHWM`` from ``/proc``).

Usage::

    .venv/bin/python benchmarks/bench_aws_org.py                       # N = 5, 50 and 200
    .venv/bin/python benchmarks/bench_aws_org.py --accounts 20 --workers 1 2
    BENCH_REDIS_URL=redis://127.0.0.1:6379/7 ...                         # Redis db to use
    BENCH_DB=pixaudit_bench_org ...                                      # PostgreSQL db

Each row also prints the 1-minute load average when the run started and when it ended
(the machine may be shared), and ``--max-parallel`` sets the integration's
``max_parallel_accounts`` (default 0: as many accounts at once as there are workers).

Collectors: ``--collectors`` (default ``aws_iam_users aws_s3_buckets aws_ebs_volumes`` in
one region, to keep a 200-account run within minutes on a small machine; every run of the
integration runs each enabled collector in every account the same way).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_COLLECTORS = ["aws_iam_users", "aws_s3_buckets", "aws_ebs_volumes"]


def _setup(name: str, redis_url: str) -> str:
    import psycopg

    admin_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    url = f"{admin_url.rstrip('/')}/{name}"
    with psycopg.connect(f"{admin_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import tempfile

    os.environ.update(
        DATABASE_URL=url, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="pixaudit.settings",
        LOG_LEVEL="WARNING", MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
    )  # fmt: skip
    os.environ.setdefault("PIXAUDIT_VAR_DIR", tempfile.mkdtemp(prefix="pixaudit-bench-org-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _one(
    n: int, workers: int, collectors: list[str], box, endpoint: str, max_parallel: int = 0
) -> dict:
    import django_rq
    from django.utils import timezone

    from pixaudit.awsorg.models import AwsIntegrationRun
    from pixaudit.awsorg.services.config import aws_integration_create
    from pixaudit.awsorg.services.runs import aws_integration_run_start

    django_rq.get_connection("collect").flushdb()
    integration = aws_integration_create(
        name=f"bench N={n} W={workers} {timezone.now():%H%M%S%f}", mode="organization",
        collectors=collectors, params={"regions": ["us-east-1"]},
        secrets={"access_key_id": "testing", "secret_access_key": "testing"},
        member_external_id="pixaudit-external-id",
        account_rules={"exclude_ids": [box.management]}, max_parallel_accounts=max_parallel,
    )  # fmt: skip
    load_start = os.getloadavg()[0]
    run = aws_integration_run_start(integration=integration, trigger="schedule")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "collect"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        for _ in range(workers)
    ]
    try:
        while True:
            run.refresh_from_db()
            if not run.active:
                break
            time.sleep(0.5)
        hwm = [_vm_hwm_kib(p.pid) for p in procs]
        load_end = os.getloadavg()[0]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    run = AwsIntegrationRun.objects.get(pk=run.pk)
    accounts = list(run.accounts.all())
    first = min(a.started_at for a in accounts if a.started_at)
    wall = (run.finished_at - min(first, run.started_at or first)).total_seconds()
    calls = sum(a.api_calls for a in accounts) + sum(run.api_call_counts.values())
    return {
        "n": n,
        "workers": workers,
        "status": run.status,
        "accounts": len(accounts),
        "failed": sum(1 for a in accounts if a.status != "succeeded"),
        "wall": wall,
        "calls": calls,
        "horse_peak_mib": max(a.peak_rss_kib for a in accounts) / 1024,
        "worker_hwm_mib": max(hwm or [0]) / 1024,
        "workers_used": len({a.worker.split(" ")[0] for a in accounts}),
        "load": (load_start, load_end),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[5, 50, 200])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--collectors", nargs="+", default=DEFAULT_COLLECTORS)
    parser.add_argument("--max-parallel", type=int, default=0)
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    _setup(os.environ.get("BENCH_DB", "pixaudit_bench_org"), redis_url)
    from pixaudit.demo.aws_org_sandbox import enforce_assume_role, seed_organisation
    from pixaudit.demo.aws_sandbox import start_moto_server

    print(f"collectors: {', '.join(args.collectors)}; one region (us-east-1)")
    header = (
        f"{'N':>4} {'W':>2} {'status':>9} {'wall s':>8} {'eff':>5} {'acct/s':>7} "
        f"{'API calls':>9} {'calls/acct':>10} {'horse MiB':>9} {'worker MiB':>10} {'used':>4} "
        f"{'load':>11}"
    )
    print(header)
    for n in args.accounts:
        endpoint, stop = start_moto_server()
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        t0 = time.monotonic()
        box = seed_organisation(endpoint, accounts=n)
        undo = enforce_assume_role()
        print(f"# seeded {n} accounts in {time.monotonic() - t0:.1f} s", flush=True)
        base = None
        try:
            for w in args.workers:
                r = _one(n, w, args.collectors, box, endpoint, args.max_parallel)
                base = base or (r["wall"] * r["workers"])
                eff = base / (r["wall"] * r["workers"])
                print(
                    f"{r['n']:>4} {r['workers']:>2} {r['status']:>9} {r['wall']:>8.1f} "
                    f"{eff:>5.2f} {r['accounts'] / r['wall']:>7.2f} {r['calls']:>9} "
                    f"{r['calls'] / max(1, r['accounts']):>10.1f} {r['horse_peak_mib']:>9.1f} "
                    f"{r['worker_hwm_mib']:>10.1f} {r['workers_used']:>4} "
                    f"{r['load'][0]:>5.1f}-{r['load'][1]:<5.1f}",
                    flush=True,
                )
        finally:
            undo()
            os.environ.pop("AWS_ENDPOINT_URL", None)
            stop()


if __name__ == "__main__":
    main()
