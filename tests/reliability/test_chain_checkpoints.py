"""Issue 13.10: signed checkpoints of the chain head catch a removed or rewritten tail.

Before: deleting the last item and rewriting ``ChainHead`` to the item before it left
``verify_evidence`` green, and so did rewriting a whole tail with recomputed hashes.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db import transaction

from pixaudit.evidence.canonical import canonical_bytes, format_datetime
from pixaudit.evidence.integrity import compute_chain_hash, compute_chain_hash_v2, verify_chain
from pixaudit.evidence.models import (
    GENESIS_HASH,
    ChainCheckpoint,
    ChainHead,
    CollectionRun,
    EvidenceItem,
    Finding,
    LatestResult,
)
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.services.checkpoints import CheckpointRefused, chain_checkpoint_write
from pixaudit.evidence.storage import artifact_store
from tests.evidence import conftest as evidence_fixtures

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

field_keys = evidence_fixtures.field_keys
inventory = evidence_fixtures.inventory
media_root = evidence_fixtures.media_root

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(field_keys, inventory, media_root):
    return connection_create(name="c", collector_key=inventory.key, params={})


def collect(conn) -> EvidenceItem:
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="cli").pk)
    assert run.status == "succeeded", run.error_message
    return run.result.evidence


@pytest.fixture
def pinned(conn):
    """Three items, the head pinned by a signed checkpoint."""
    for _ in range(3):
        collect(conn)
    checkpoint = ChainCheckpoint.objects.order_by("-seq").first()
    if checkpoint is None or checkpoint.seq < 3:
        checkpoint = chain_checkpoint_write()
    assert checkpoint.seq == 3
    return Pinned(list(EvidenceItem.objects.order_by("seq")), conn)


class Pinned(list):
    """The pinned items, and the connection that collected them."""

    def __init__(self, items, conn):
        super().__init__(items)
        self.conn = conn


def raw(sql: str, params=()) -> None:
    with transaction.atomic(), db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            cursor.execute("SET LOCAL pixaudit.retention = 'on'")
        cursor.execute(sql, params)


def verify(*args: str) -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("verify_evidence", *args, stdout=out)
    except CommandError as exc:
        return False, str(exc)
    return True, out.getvalue()


def _drop_last_item_and_rewrite_head(items) -> None:
    last, before = items[-1], items[-2]
    raw(f"DELETE FROM {LatestResult._meta.db_table} WHERE evidence_id = %s", [last.pk])
    # Derived rows pointing at the item go too, as a thorough forger would remove them.
    raw(
        "DELETE FROM exceptions_exceptionrecord WHERE %s IN "
        "(start_evidence_id, last_evidence_id, end_evidence_id)",
        [last.pk],
    )
    raw(f"DELETE FROM {Finding._meta.db_table} WHERE evidence_id = %s", [last.pk])
    raw(f"DELETE FROM {EvidenceItem._meta.db_table} WHERE id = %s", [last.pk])
    ChainHead.objects.filter(pk=1).update(seq=before.seq, chain_hash=before.chain_hash)


def test_a_removed_tail_with_a_rewritten_head_is_caught(pinned):
    assert verify()[0]
    _drop_last_item_and_rewrite_head(pinned)
    assert verify_chain().ok  # the chain alone cannot tell: it is a consistent, shorter chain
    ok, text = verify()
    assert not ok
    assert "the chain is intact link by link up to seq=2" in text
    assert "the chain ends at seq=2 but this signed checkpoint covers seq=3" in text
    assert "items were removed from the end of the chain" in text


def test_the_periodic_job_raises_the_alarm_on_a_removed_tail(pinned):
    from pixaudit.evidence.jobs_integrity import evidence_integrity_job

    assert evidence_integrity_job().startswith("no checkpoint due")
    _drop_last_item_and_rewrite_head(pinned)
    with pytest.raises(CheckpointRefused, match="the chain ends at seq=2, before the last"):
        evidence_integrity_job()


def test_a_rewritten_tail_with_recomputed_hashes_is_caught(pinned):
    last = pinned[-1]
    forged = EvidenceItem.objects.get(pk=last.pk)
    forged.collected_at -= timedelta(days=30)
    forged_hash = compute_chain_hash_v2(forged, forged.prev_chain_hash)
    raw(
        f"UPDATE {Finding._meta.db_table} SET collected_at = %s WHERE evidence_id = %s",
        [forged.collected_at, last.pk],
    )
    raw(
        f"UPDATE {EvidenceItem._meta.db_table} SET collected_at = %s, chain_hash = %s "
        "WHERE id = %s",
        [forged.collected_at, forged_hash, last.pk],
    )
    ChainHead.objects.filter(pk=1).update(chain_hash=forged_hash)
    assert verify_chain().ok  # internally consistent
    ok, text = verify()
    assert not ok and "the chain was rewritten at or before seq=3" in text
    # ...and the forgery is never signed: with a new item to pin, the checkpoint refuses.
    collect(pinned.conn)
    with pytest.raises(CheckpointRefused, match="does not extend the last signed checkpoint"):
        chain_checkpoint_write()


def test_an_altered_checkpoint_file_is_refused(pinned, media_root):
    checkpoint = ChainCheckpoint.objects.order_by("-seq").first()
    path = media_root / checkpoint.name
    envelope = json.loads(path.read_bytes())
    envelope["checkpoint"]["seq"] = 2  # pretend the head was earlier
    envelope["checkpoint"]["chain_hash"] = pinned[1].chain_hash
    path.write_bytes(canonical_bytes(envelope))
    ok, text = verify()
    assert not ok and "signature does not verify with a trusted key" in text
    collect(pinned.conn)  # a new head to sign: the altered anchor is not trusted either
    with pytest.raises(CheckpointRefused, match="cannot be trusted: signature does not verify"):
        chain_checkpoint_write()


def test_a_checkpoint_signed_by_another_key_is_refused(pinned, media_root):
    forger = Ed25519PrivateKey.generate()
    document = {
        "type": "pixaudit.chain-checkpoint", "format": 1, "organisation": "x", "seq": 3,
        "chain_hash": pinned[2].chain_hash, "digest_version": 2,
        "created_at": format_datetime(datetime.now(UTC)), "key_fingerprint": "f" * 64,
    }  # fmt: skip
    envelope = {
        "checkpoint": document,
        "signature": base64.b64encode(forger.sign(canonical_bytes(document))).decode(),
        "public_key_pem": "",
    }
    (media_root / "evidence/checkpoints/000000000003-29990101T000000000000Z.json").write_bytes(
        canonical_bytes(envelope)
    )
    ok, text = verify()
    assert not ok and "signed by key ffffffffffffffff…" in text


def test_a_deleted_checkpoint_file_is_noticed(pinned, media_root):
    checkpoint = ChainCheckpoint.objects.order_by("-seq").first()
    (media_root / checkpoint.name).unlink()
    ok, text = verify()
    assert not ok and "missing from the store" in text and "checkpoints were deleted" in text


def test_export_verifies_without_pixaudit_and_catches_truncation(pinned, tmp_path, media_root):
    export = tmp_path / "export"
    call_command("chain_checkpoint", "--export", str(export), stdout=StringIO())
    names = sorted(p.name for p in export.iterdir())
    assert "public_key.pem" in names and "README.txt" in names
    stems = [n[:-5] for n in names if n.endswith(".json")]
    assert stems and all(f"{s}.sig" in names for s in stems)
    openssl = shutil.which("openssl")
    if openssl:
        for stem in stems:
            done = subprocess.run(
                [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem", "-rawin",
                 "-in", f"{stem}.json", "-sigfile", f"{stem}.sig"],
                cwd=export, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout
    args = ("--checkpoints", str(export), "--public-key", str(export / "public_key.pem"))
    ok, text = verify(*args)
    assert ok and "match the chain; the latest is seq=3" in text
    # An attacker who also deletes the checkpoints in the store is still caught by the copy.
    _drop_last_item_and_rewrite_head(pinned)
    raw(f"DELETE FROM {ChainCheckpoint._meta.db_table}")
    shutil.rmtree(media_root / "evidence" / "checkpoints")
    # No checkpoint is left in the system; only the current-state table, rebuilt from the
    # (truncated) history, still disagrees with what the dashboard showed.
    ok, text = verify()
    assert not ok and "current-state row(s) differ from history" in text, text
    ok, text = verify(*args)
    assert not ok and "items were removed from the end" in text


def test_list_and_write_commands(pinned):
    out = StringIO()
    call_command("chain_checkpoint", "--list", stdout=out)
    assert "seq=3" in out.getvalue()
    out = StringIO()
    call_command("chain_checkpoint", stdout=out)
    assert out.getvalue().startswith("Nothing to sign")


def test_checkpoints_are_written_after_appends_at_most_every_interval(conn, settings):
    settings.PIXAUDIT_CHECKPOINT_MINUTES = 15
    with time_machine.travel(START, tick=False):
        collect(conn)  # the first item: no checkpoint yet, so one is due at once
    assert list(ChainCheckpoint.objects.values_list("seq", flat=True)) == [1]
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        collect(conn)
    assert ChainCheckpoint.objects.count() == 1  # not due yet
    with time_machine.travel(START + timedelta(minutes=16), tick=False):
        collect(conn)
    assert sorted(ChainCheckpoint.objects.values_list("seq", flat=True)) == [1, 3]
    from pixaudit.auditlog.models import AuditEvent

    signed = AuditEvent.objects.filter(action="evidence.checkpoint_sign").order_by("id")
    assert [e.details["seq"] for e in signed] == [1, 3]
    ok, text = verify()
    assert ok and "2 signed checkpoint(s) match the chain" in text


def test_the_periodic_job_signs_a_due_head(conn, settings):
    from pixaudit.evidence.jobs_integrity import evidence_integrity_job

    with time_machine.travel(START, tick=False):
        collect(conn)
        collect(conn)
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        assert evidence_integrity_job() == "checkpoint seq=2; 0 partial file(s) removed"
        assert evidence_integrity_job() == "no checkpoint due; 0 partial file(s) removed"


def test_items_chained_before_version_2_keep_verifying(conn, media_root):
    # Items as the previous release wrote them: digest version 1 (the old formula).
    prev = GENESIS_HASH
    when = START - timedelta(days=30)
    for seq in (1, 2):
        data = canonical_bytes({"legacy": seq})
        sha = __import__("hashlib").sha256(data).hexdigest()
        run = CollectionRun.objects.create(collector_key="legacy", status="succeeded",
                                           trigger="cli")  # fmt: skip
        empty = __import__("hashlib").sha256(b"[]").hexdigest()
        item = EvidenceItem(
            run=run, collector_key="legacy", collector_version=1, pixaudit_version="0.0.9",
            collected_at=when, effective_at=when, expires_at=when + timedelta(days=1),
            row_count=0, findings_count=0, sha256=sha, artifact_path=artifact_store(data, sha),
            size=len(data), findings_digest=empty, seq=seq, prev_chain_hash=prev,
            chain_hash=compute_chain_hash(prev, sha, empty),
        )  # fmt: skip
        item.save()
        prev = item.chain_hash
    ChainHead.objects.update_or_create(pk=1, defaults={"seq": 2, "chain_hash": prev})
    new = collect(conn)
    versions = list(EvidenceItem.objects.order_by("seq").values_list("digest_version", flat=True))
    assert versions == [1, 1, 2] and new.prev_chain_hash == prev
    ok, text = verify()
    assert ok, text


def test_object_lock_protects_checkpoints_on_s3(conn, settings, monkeypatch):
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="locked-evidence", ObjectLockEnabledForBucket=True)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {"bucket_name": "locked-evidence", "location": "pixaudit",
                            "file_overwrite": False, "default_acl": None,
                            "object_parameters": {"ServerSideEncryption": "AES256"}},
            },
        }  # fmt: skip
        settings.PIXAUDIT_CHECKPOINT_LOCK_DAYS = 30
        settings.PIXAUDIT_CHECKPOINT_MINUTES = 60 * 24
        collect(conn)
        checkpoint = ChainCheckpoint.objects.get()
        key = f"pixaudit/{checkpoint.name}"
        # (moto's GetObjectRetention answers 500; HeadObject reports the same lock.)
        head = s3.head_object(Bucket="locked-evidence", Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=29)
        assert abs(checkpoint.locked_until - head["ObjectLockRetainUntilDate"]) < timedelta(
            seconds=1
        )
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
            s3.delete_object(Bucket="locked-evidence", Key=key, VersionId=head["VersionId"])
        ok, text = verify()
        assert ok and "1 signed checkpoint(s) match the chain" in text
