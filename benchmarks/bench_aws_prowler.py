"""Benchmark: every pixaudit AWS collector against Prowler's equivalent checks, same moto account.

Seeds N of each resource type in the sandbox moto server (``pixaudit.demo.aws_sandbox``,
two regions), then in the same run times (1) every registered AWS collector as the runner
runs them (``collectors.testing.run_collector``, one after the other) and (2) Prowler 5 with
the checks that judge the same facts (``CHECKS``), both through ``AWS_ENDPOINT_URL``.
Prowler is not a dependency: install it in a throwaway venv and pass its executable::

    python3 -m venv /tmp/prowler-venv && /tmp/prowler-venv/bin/pip install prowler==5.46.0
    .venv/bin/python benchmarks/bench_aws_prowler.py 50 --prowler /tmp/prowler-venv/bin/prowler
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import registry  # noqa: E402
from collectors.testing import run_collector  # noqa: E402
from pixaudit.demo.aws_sandbox import (  # noqa: E402
    SANDBOX_PARAMS,
    SANDBOX_REGIONS,
    seed_sandbox,
    start_moto_server,
)

#: Prowler checks judging what pixaudit's AWS collectors judge (one or more per collector).
#: Every pixaudit assertion with a Prowler counterpart has one here; API Gateway stage
#: throttling has none (Prowler has no such check).
CHECKS = [
    "backup_plans_exist", "backup_vaults_encrypted", "cloudtrail_multi_region_enabled",
    "dynamodb_tables_pitr_enabled", "ec2_ebs_default_encryption", "ec2_ebs_volume_encryption",
    "elbv2_ssl_listeners", "guardduty_is_enabled", "iam_password_policy_minimum_length_14",
    "iam_root_mfa_enabled", "iam_no_root_access_key", "iam_user_mfa_enabled_console_access",
    "iam_administrator_access_with_mfa", "iam_rotate_access_key_90_days",
    "iam_user_accesskey_unused", "iam_user_console_access_unused", "kms_cmk_rotation_enabled",
    "rds_instance_backup_enabled", "rds_instance_storage_encrypted",
    "s3_bucket_default_encryption", "s3_bucket_object_versioning",
    "s3_bucket_secure_transport_policy", "s3_bucket_lifecycle_enabled",
    "apigateway_restapi_authorizers_enabled", "apigateway_restapi_waf_acl_attached",
    "elbv2_waf_acl_attached", "wafv2_webacl_with_rules", "inspector2_is_enabled",
    "inspector2_active_findings_within_max_age",
]  # fmt: skip


def _pixaudit() -> tuple[float, int]:
    """Every AWS collector once, as the runner runs them: (seconds, rows)."""
    began = time.perf_counter()
    rows = 0
    for cls in (c for c in registry.all_collectors() if c.source == "aws"):
        rows += len(run_collector(cls, SANDBOX_PARAMS).rows)
    return time.perf_counter() - began, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=50)
    parser.add_argument("--prowler", required=True, help="the prowler executable")
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    registry.discover(strict=True)
    url, stop = start_moto_server()
    try:
        seed_sandbox(url, n=args.n)
        os.environ["AWS_ENDPOINT_URL"] = url
        print("load average before (1, 5, 15 min): "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg()))  # fmt: skip
        ours, rows = _pixaudit()
        print(f"N={args.n}: pixaudit, every AWS collector: {rows} rows in {ours:.1f} s")
        env = {
            **os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": url,
        }  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="prowler-out-") as out:
            command = [
                args.prowler, "aws", "--no-banner", "--checks", *CHECKS,
                "-f", *SANDBOX_REGIONS, "--output-formats", "csv", "-o", out,
            ]  # fmt: skip
            began = time.perf_counter()
            try:
                done = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=args.timeout
                )
                code = done.returncode
                tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            except subprocess.TimeoutExpired:
                code, tail = None, [f"timed out after {args.timeout} s"]
            theirs = time.perf_counter() - began
            findings = sum(
                max(0, len(p.read_text(errors="replace").splitlines()) - 1)
                for p in Path(out).rglob("*.csv")
            )
        print(f"N={args.n}: Prowler, {len(CHECKS)} checks: exit {code}, {findings} findings "
              f"in {theirs:.1f} s")  # fmt: skip
        for line in tail:
            print(f"  prowler: {line}")
        # The machine is shared: pixaudit again right after Prowler, so a load spike during
        # one of the three timings shows (both pixaudit timings are reported).
        again, _ = _pixaudit()
        print(f"N={args.n}: pixaudit again after Prowler: {again:.1f} s")
        print(f"ratio pixaudit / Prowler: {ours / theirs:.3f} (before), {again / theirs:.3f} "
              f"(after), {(ours + again) / 2 / theirs:.3f} (mean)")  # fmt: skip
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
