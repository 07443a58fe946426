"""Unknown is never absent: a resource the collector could not place is ERROR evidence.

Issue 13.8: ``aws_s3_buckets`` with a ``regions`` filter dropped a bucket silently when
``s3:GetBucketLocation`` was denied (0 rows, the run "succeeded", and the bucket's FAIL
results were removed from current state). Here the whole path runs for real: moto, the
runner, the ingest and the current-state table, with the permission denied by a botocore
hook on the sessions the runner's context builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from collectors.context import CollectionContext
from pixaudit.evidence.models import LatestResult
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

BUCKET = "bad-images"
ASSERTIONS = (
    "aws_s3_buckets.default_encryption",
    "aws_s3_buckets.secure_transport",
    "aws_s3_buckets.versioning_enabled",
)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    from moto import mock_aws

    with mock_aws():
        yield


def _deny(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """Make every session the runner builds fail ``operation`` with AccessDenied."""
    from botocore.exceptions import ClientError

    build = CollectionContext._build_aws_session

    def hook(model: Any, **_: Any) -> None:
        if model.name == operation:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
            raise ClientError(error, model.name)

    def denied(self: CollectionContext, region: str | None) -> Any:
        session = build(self, region)
        session.events.register("before-call", hook)
        return session

    monkeypatch.setattr(CollectionContext, "_build_aws_session", denied)


def _run(connection: Any) -> Any:
    run = collection_run_create(connection=connection, trigger="manual")
    return collection_run_execute(run_id=run.pk)


def _current(assertion_id: str) -> dict[str, str]:
    rows = LatestResult.objects.filter(assertion_id=assertion_id, resource__contains=BUCKET)
    return {row.resource: row.status for row in rows}


def test_an_unplaceable_bucket_stays_in_current_state_as_error(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, settings: Any
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    if any(b.get("BucketRegion") for b in boto3.client("s3").list_buckets()["Buckets"]):
        pytest.skip("this moto lists bucket regions: GetBucketLocation is not needed")
    connection = connection_create(
        name="S3 eu", collector_key="aws_s3_buckets", params={"regions": ["eu-west-1"]}
    )

    first = _run(connection)
    assert first.status == "succeeded", first.error_message
    assert first.rows_count == 1
    for assertion_id in ASSERTIONS:
        assert set(_current(assertion_id).values()) == {"fail"}, assertion_id

    _deny(monkeypatch, "GetBucketLocation")
    second = _run(connection)
    assert second.status == "succeeded", second.error_message
    # the bucket is still there, as ERROR: neither absent nor a stale FAIL
    assert second.rows_count == 1
    assert second.findings_fail == 0 and second.findings_error >= len(ASSERTIONS)
    for assertion_id in ASSERTIONS:
        current = _current(assertion_id)
        assert set(current.values()) == {"error"}, (assertion_id, current)
    message = LatestResult.objects.filter(
        assertion_id=ASSERTIONS[0], resource__contains=BUCKET
    ).values_list("message", flat=True)[0]
    assert "s3:GetBucketLocation" in message
