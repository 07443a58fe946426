"""CollectionContext: clock, redaction, budget, provenance, AWS sessions and clients (moto)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from collectors import CollectionContext, CollectorError
from collectors.context import aws_client_config
from collectors.testing import make_context

SECRET = "ghp_SuperSecretToken123"


def test_now_is_utc_aware_from_injected_clock() -> None:
    naive = make_context(clock=lambda: datetime(2024, 5, 1, 12, 0))
    assert naive.now() == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    plus2 = timezone(timedelta(hours=2))
    aware = make_context(clock=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=plus2))
    assert aware.now() == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert aware.now().tzinfo is UTC
    frozen = make_context(now=datetime(2030, 1, 1))
    assert frozen.now() == datetime(2030, 1, 1, tzinfo=UTC)
    assert make_context().now().tzinfo is UTC


def test_logger_redacts_secrets_in_messages_args_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = make_context(secrets=[SECRET, "on"], logger=logging.getLogger("tests.ctx"))
    with caplog.at_level(logging.DEBUG, logger="tests.ctx"):
        ctx.logger.info("calling with token=%s", SECRET)
        ctx.logger.warning(f"inline {SECRET} and switched on")
        try:
            raise ValueError(f"bad token {SECRET}")
        except ValueError:
            ctx.logger.exception("failed")
    assert SECRET not in caplog.text
    assert "calling with token=********" in caplog.text
    assert "switched on" in caplog.text  # too-short "secrets" are not redacted
    assert "ValueError: bad token ********" in caplog.text
    assert all(r.name == "tests.ctx" for r in caplog.records)


def test_error_and_progress_are_redacted() -> None:
    seen: list[tuple[int, int | None, str]] = []
    ctx = make_context(secrets=[SECRET], progress=lambda d, t, m: seen.append((d, t, m)))
    ctx.progress(1, 2, f"page with {SECRET}")
    ctx.error(f"denied for {SECRET}", action="s3:GetBucketPolicy", resource="b1",
              assertions=["x.y"])  # fmt: skip
    assert seen == [(1, 2, "page with ********")]
    assert ctx.errors == [
        {
            "message": "denied for ********",
            "action": "s3:GetBucketPolicy",
            "resource": "b1",
            "assertions": ("x.y",),
        }
    ]


def test_budget_remaining_and_exhaustion() -> None:
    ticks = iter([100.0, 104.0, 111.0])
    ctx = make_context(time_budget=10, monotonic=lambda: next(ticks))
    assert ctx.remaining() == pytest.approx(6.0)
    with pytest.raises(CollectorError) as info:
        ctx.check_budget()
    assert info.value.message == "time budget of 10 s exhausted"
    assert info.value.permanent is False
    unlimited = make_context()
    assert unlimited.remaining() == float("inf")
    unlimited.check_budget()


def test_record_call_and_identity() -> None:
    ctx = make_context()
    for action in ("s3:ListBuckets", "iam:ListUsers", "s3:ListBuckets"):
        ctx.record_call(action)
    ctx.identity = "arn:aws:iam::123456789012:user/auditor"
    assert ctx.api_calls == ["iam:ListUsers", "s3:ListBuckets"]


def test_clients_are_created_lazily() -> None:
    def factory(region: str | None) -> boto3.session.Session:
        raise AssertionError("must not be called before use")

    ctx = CollectionContext({}, aws_session_factory=factory)
    assert ctx._http is None  # noqa: SLF001 - nothing created at construction
    assert ctx._aws_sessions == {}  # noqa: SLF001


def test_aws_client_config_and_call_recording(aws_env: None) -> None:
    with mock_aws():
        ctx = make_context({"region": "eu-west-1"})
        s3 = ctx.aws_client("s3")
        assert aws_client_config().retries == {"mode": "adaptive", "max_attempts": 10}
        # botocore normalises max_attempts=10 retries into 11 total attempts
        assert s3.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}
        assert s3.meta.config.connect_timeout == 10
        assert s3.meta.config.read_timeout == 60
        assert s3.meta.config.max_pool_connections == 32
        assert s3.meta.region_name == "eu-west-1"
        assert ctx.aws_client("s3") is s3  # cached
        s3.list_buckets()
        ctx.aws_client("sts", region="us-east-1").get_caller_identity()
        assert ctx.api_calls == ["s3:ListBuckets", "sts:GetCallerIdentity"]


def test_aws_session_with_static_keys(aws_env: None) -> None:
    ctx = make_context(
        {"access_key_id": "AKIAEXAMPLEKEY000001", "secret_access_key": "s3cr3tvalue",
         "session_token": "tok3n"}
    )  # fmt: skip
    creds = ctx.aws_session("us-west-2").get_credentials().get_frozen_credentials()
    assert (creds.access_key, creds.secret_key, creds.token) == (
        "AKIAEXAMPLEKEY000001",
        "s3cr3tvalue",
        "tok3n",
    )
    assert ctx.aws_session("us-west-2").region_name == "us-west-2"
    assert ctx.aws_session("us-west-2") is ctx.aws_session("us-west-2")


def test_aws_session_assumes_role_once_per_role(aws_env: None) -> None:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(
            RoleName="pixaudit-reader",
            AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
        )["Role"]
        ctx = make_context({"role_arn": role["Arn"], "external_id": "ext-123"})
        session = ctx.aws_session("us-east-1")
        identity = session.client("sts").get_caller_identity()
        assert ":assumed-role/pixaudit-reader/pixaudit-collector" in identity["Arn"]
        assumed_key = session.get_credentials().access_key
        assert assumed_key != "testing"
        # another region reuses the cached role credentials
        other = ctx.aws_session("eu-central-1")
        assert other.get_credentials().access_key == assumed_key
        assert other.region_name == "eu-central-1"
        assert "sts:AssumeRole" in ctx.api_calls
        # the temporary secret is redacted from logs
        secret = session.get_credentials().secret_key
        assert ctx.redact(f"x {secret} y") == "x ******** y"


def test_injected_session_factory_is_used(aws_env: None) -> None:
    calls: list[str | None] = []

    def factory(region: str | None) -> boto3.session.Session:
        calls.append(region)
        return boto3.session.Session(region_name=region)

    ctx = make_context(aws_session_factory=factory)
    ctx.aws_client("iam", region="us-east-1")
    ctx.aws_client("s3", region="us-east-1")
    assert calls == ["us-east-1"]


def test_attempt_returns_the_result_or_records_an_error_for_the_resource() -> None:
    ctx = make_context(secrets=[SECRET])
    assert ctx.attempt(lambda: 42, resource="r1") == 42

    def denied() -> int:
        raise CollectorError(f"HTTP 403 for {SECRET}", permanent=True, action="api:Read")

    assert ctx.attempt(denied, resource="r2", assertions=("k.a",), message="cannot read") is None
    assert ctx.attempt(denied, resource="r3", action="api:Other", default=0) == 0
    assert ctx.errors == [
        {
            "message": "cannot read: HTTP 403 for ********",
            "action": "api:Read",
            "resource": "r2",
            "assertions": ("k.a",),
        },
        {
            "message": "HTTP 403 for ********",
            "action": "api:Other",
            "resource": "r3",
            "assertions": (),
        },
    ]


def test_attempt_lets_bugs_through() -> None:
    ctx = make_context()
    with pytest.raises(KeyError):
        ctx.attempt(lambda: {}["missing"], resource="r1")
    assert ctx.errors == []
