"""Fixtures of the AWS integration tests: an organisation in moto (in-process)."""

from __future__ import annotations

import pytest

from pixaudit.demo.aws_org_sandbox import enforce_assume_role, seed_organisation
from tests.dashboard.conftest import catalogs, logged_in, media_root, user  # noqa: F401
from tests.jobs.conftest import async_collect_queue, real_services, start_worker  # noqa: F401

FAST = ["aws_iam_users", "aws_s3_buckets"]


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region; no profile or endpoint leaks in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # 1 s per account and region
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture
def organisation(aws_env):
    """Five members: 0 prod, 1 sandbox, 2 prod without the role, 3 sandbox, 4 prod suspended.

    The management account (123456789012) has no pixaudit role either.
    """
    from moto import mock_aws

    with mock_aws():
        box = seed_organisation(accounts=5, without_role=[2], suspended=[4])
        undo = enforce_assume_role()
        try:
            yield box
        finally:
            undo()
