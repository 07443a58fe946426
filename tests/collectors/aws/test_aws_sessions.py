"""Issue 17: one AssumeRole per account and run, refreshed before expiry; bounded threads."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collectors import CollectorError
from collectors.aws import _common as common
from collectors.aws._sessions import REFRESH_MARGIN, account_sessions, active
from collectors.aws.aws_ebs_volumes import EbsVolumesCollector
from collectors.aws.aws_iam_users import IamUsersCollector
from collectors.aws.aws_s3_buckets import S3BucketsCollector
from collectors.context import CollectionContext
from collectors.testing import make_context, run_collector

from .conftest import REGIONS

ROLE = {"role_arn": "arn:aws:iam::123456789012:role/pixaudit", "regions": REGIONS}
COLLECTORS = (EbsVolumesCollector, IamUsersCollector, S3BucketsCollector)


def _run_all() -> list[dict[str, int]]:
    """Each collector in its own context, as the account job runs them; their call counts."""
    counts = []
    for cls in COLLECTORS:
        ctx = make_context(ROLE)
        result = run_collector(cls, ctx=ctx)
        assert not result.errors, result.errors
        assert (
            result.identity == "arn:aws:sts::123456789012:assumed-role/pixaudit/pixaudit-collector"
        )
        counts.append(ctx.api_call_counts)
    return counts


def _total(counts: list[dict[str, int]], action: str) -> int:
    return sum(c.get(action, 0) for c in counts)


def test_one_assume_role_and_identity_per_account_run(aws: None) -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket="evidence")
    alone = _run_all()  # no account job: every collector assumes the role itself
    assert _total(alone, "sts:AssumeRole") == 3 and _total(alone, "sts:GetCallerIdentity") == 3
    with account_sessions() as sessions:
        shared = _run_all()
        assert sessions.assumed == 1 and len(sessions) == 2  # credentials + identity
    assert _total(shared, "sts:AssumeRole") == 1
    assert _total(shared, "sts:GetCallerIdentity") == 1
    # Nothing is kept after the account's job.
    assert len(sessions) == 0 and active() is None


def _expiring(monkeypatch: pytest.MonkeyPatch, *minutes: int) -> None:
    """The first AssumeRole answers expire ``minutes`` from now (later ones: moto's hour)."""
    original = CollectionContext._base_aws_session
    left = list(minutes)

    def patched(self: CollectionContext, region: str | None) -> Any:
        session = original(self, region)

        def expire(parsed: dict[str, Any], **_: Any) -> None:
            if left:
                parsed["Credentials"]["Expiration"] = datetime.now(UTC) + timedelta(
                    minutes=left.pop(0)
                )

        session.events.register("after-call.sts.AssumeRole", expire)
        return session

    monkeypatch.setattr(CollectionContext, "_base_aws_session", patched)


def test_credentials_are_assumed_again_before_they_expire(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _expiring(monkeypatch, 20)
    now = {"t": datetime.now(UTC)}
    with account_sessions(clock=lambda: now["t"]) as sessions:
        first = make_context(ROLE)
        run_collector(EbsVolumesCollector, ctx=first)
        key = first.aws_session("us-east-1").get_credentials().get_frozen_credentials()
        assert sessions.assumed == 1
        # 6 minutes later the 20-minute credentials are inside the refresh margin.
        now["t"] += timedelta(minutes=20) - REFRESH_MARGIN + timedelta(minutes=1)
        second = make_context(ROLE)
        run_collector(EbsVolumesCollector, ctx=second)
        renewed = second.aws_session("us-east-1").get_credentials().get_frozen_credentials()
        assert sessions.assumed == 2
        assert second.api_call_counts["sts:AssumeRole"] == 1
        assert renewed.access_key != key.access_key


def test_a_session_refreshes_credentials_that_are_about_to_expire(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore asks the cache again once fewer than 15 minutes remain: a long collection
    is never cut off by its credentials expiring."""
    _expiring(monkeypatch, 12)
    with account_sessions() as sessions:
        ctx = make_context(ROLE)
        client = ctx.aws_client("ec2", "us-east-1")  # the session assumes the role once
        assert sessions.assumed == 1
        client.describe_volumes()  # 12 minutes left: refreshed before the call
        assert sessions.assumed == 2
        assert ctx.api_call_counts["sts:AssumeRole"] == 2


def test_threads_of_a_collection_share_the_account_cache(aws: None) -> None:
    ctx = make_context({})
    with account_sessions() as sessions:
        seen = common.pmap(ctx, lambda _: active(), list(range(8)))
    assert seen == [sessions] * 8


def test_concurrency_per_account_and_per_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXAUDIT_AWS_CONCURRENCY", raising=False)
    monkeypatch.setenv("PIXAUDIT_AWS_API_CONCURRENCY", "s3=2, kms=3")
    assert common.concurrency() == common.MAX_WORKERS
    assert common.concurrency("s3") == 2 and common.concurrency("kms") == 3
    assert common.concurrency("dynamodb") == common.MAX_WORKERS
    monkeypatch.setenv("PIXAUDIT_AWS_CONCURRENCY", "1")
    assert common.concurrency("kms") == 1 and common.concurrency() == 1

    monkeypatch.setenv("PIXAUDIT_AWS_CONCURRENCY", "8")
    running, peak, lock = [0], [0], threading.Lock()

    def call(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    common.pmap(make_context({}), call, list(range(12)), api="s3")
    assert peak[0] == 2
    peak[0] = 0
    common.pmap(make_context({}), call, list(range(12)), api="dynamodb")
    assert 2 < peak[0] <= 8

    monkeypatch.setenv("PIXAUDIT_AWS_API_CONCURRENCY", "s3")
    with pytest.raises(CollectorError, match="expected service=threads, got 's3'"):
        common.concurrency("s3")
    monkeypatch.setenv("PIXAUDIT_AWS_CONCURRENCY", "zero")
    with pytest.raises(CollectorError, match="PIXAUDIT_AWS_CONCURRENCY: expected a whole number"):
        common.concurrency()
