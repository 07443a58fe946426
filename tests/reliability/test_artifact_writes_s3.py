"""Issue 13.5 on S3 (django-storages, moto): an existing object is verified before it is
trusted, a corrupt one is replaced, and a failed upload stores nothing and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine
from botocore.exceptions import EndpointConnectionError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from moto import mock_aws

from pixaudit.evidence.canonical import sha256_hex
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import EvidenceItem, ManualEvidence
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.services.manual import (
    ManualEvidenceError,
    manual_evidence_upload,
    manual_file_path,
)
from pixaudit.evidence.storage import artifact_read, artifact_store
from tests.evidence import conftest as evidence_fixtures
from tests.reviews import fixtures as review_fixtures

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

field_keys = evidence_fixtures.field_keys
inventory = evidence_fixtures.inventory
catalogs = review_fixtures.catalogs
users = review_fixtures.users

BUCKET = "pixaudit-evidence-test"
PREFIX = "pixaudit"
PDF = b"%PDF-1.7\n%" + b"y" * 20_000 + b"\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def s3(settings, monkeypatch):
    """The artifact store on a moto S3 bucket, configured like production settings do."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "location": PREFIX,
                    "file_overwrite": False,
                    "default_acl": None,
                    "object_parameters": {"ServerSideEncryption": "AES256"},
                },
            },
        }
        yield client


def _keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def _upload(user, data: bytes = PDF):
    return manual_evidence_upload(
        upload=SimpleUploadedFile("report.pdf", data),
        file_name="report.pdf",
        user=user,
        title="Pen test",
        effective_on=timezone.now().date() - timedelta(days=1),
        control_addresses=["soc2-2017:CC4.1"],
        recurrence="yearly",
    )


def test_a_corrupt_object_at_the_upload_address_is_not_trusted(s3, catalogs, users):
    key = f"{PREFIX}/{manual_file_path(sha256_hex(PDF), 'pdf')}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=PDF[:1000])  # a stub at the content address
    item = _upload(users.manager)
    assert item.file_path == manual_file_path(sha256_hex(PDF), "pdf")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == PDF
    assert verify_chain().ok


def test_a_same_size_corrupt_artifact_is_replaced(s3, field_keys, inventory):
    conn = connection_create(name="c", collector_key=inventory.key, params={})
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        first = collection_run_execute(
            run_id=collection_run_create(connection=conn, trigger="manual").pk
        ).result.evidence
    good = artifact_read(first.artifact_path)
    bad = bytearray(good)
    bad[3] ^= 0x20
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{first.artifact_path}", Body=bytes(bad))
    assert not verify_chain().ok
    # The identical artifact again: the store checks the bytes, finds them wrong, rewrites.
    assert artifact_store(good, first.sha256) == first.artifact_path
    assert artifact_read(first.artifact_path) == good
    assert verify_chain().ok


def test_a_failed_upload_stores_nothing_and_says_why(s3, catalogs, users):
    client = default_storage.connection.meta.client

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    client.meta.events.register("before-call.s3.PutObject", unreachable)
    try:
        with pytest.raises(ManualEvidenceError) as info:
            _upload(users.manager)
    finally:
        client.meta.events.unregister("before-call.s3.PutObject", unreachable)
    message = str(info.value)
    assert "Could not connect to the endpoint URL" in message
    assert "nothing was stored" in message
    assert _keys(s3) == []
    assert EvidenceItem.objects.count() == 0 and ManualEvidence.objects.count() == 0
    # The store is back: the same upload is stored and verifies.
    _upload(users.manager)
    assert verify_chain().ok
