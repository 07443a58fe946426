"""Issue 13.5: a failed artifact write leaves nothing behind and is never trusted later.

The faults are real: a 1 MiB tmpfs that fills up mid-write, the same tmpfs remounted
read-only, an object at a content address whose bytes are not the ones its name promises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import CollectionRun, EvidenceItem, ManualEvidence
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.services.manual import ManualEvidenceError, manual_evidence_upload
from pixaudit.evidence.storage import artifact_path
from tests.evidence import conftest as evidence_fixtures
from tests.reliability.disk_faults import files_under, fill, remount, small_tmpfs
from tests.reviews import fixtures as review_fixtures

# Fixtures shared with tests/evidence and tests/reviews.
field_keys = evidence_fixtures.field_keys
inventory = evidence_fixtures.inventory
media_root = evidence_fixtures.media_root
catalogs = review_fixtures.catalogs
users = review_fixtures.users

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

#: A valid PDF of about 64 KiB (the padding is a PDF comment).
BIG_PDF = b"%PDF-1.7\n%" + b"x" * 65_000 + b"\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def small_disk(settings, tmp_path):
    """The artifact store on a 1 MiB tmpfs (unmounted afterwards)."""
    with small_tmpfs(tmp_path / "media", 1024 * 1024) as root:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(root)},
            },
        }
        yield root


def _upload(user, data: bytes = BIG_PDF, name: str = "pentest.pdf"):
    return manual_evidence_upload(
        upload=SimpleUploadedFile(name, data),
        file_name=name,
        user=user,
        title="Penetration test",
        effective_on=timezone.now().date() - timedelta(days=3),
        control_addresses=["soc2-2017:CC4.1"],
        recurrence="yearly",
    )


def test_full_disk_upload_leaves_nothing_and_the_same_upload_later_is_whole(
    small_disk, catalogs, users
):
    filler = fill(small_disk, leave=8 * 1024)
    runs = CollectionRun.objects.count()
    with pytest.raises(ManualEvidenceError) as info:
        _upload(users.manager)
    message = str(info.value)
    assert "no space left" in message and "nothing was stored" in message
    assert files_under(small_disk) == []  # no truncated file, no temporary file
    assert EvidenceItem.objects.count() == 0 and ManualEvidence.objects.count() == 0
    assert CollectionRun.objects.count() == runs
    # Space comes back; the identical upload is stored whole, not matched to a stub.
    filler.unlink()
    item = _upload(users.manager)
    assert (small_disk / item.file_path).read_bytes() == BIG_PDF
    result = verify_chain()
    assert result.ok, result.problem


def test_read_only_disk_upload_gives_a_clear_error_and_stores_nothing(small_disk, catalogs, users):
    remount(small_disk, "ro")
    try:
        with pytest.raises(ManualEvidenceError) as info:
            _upload(users.manager)
    finally:
        remount(small_disk, "rw")
    assert "read-only" in str(info.value) and "nothing was stored" in str(info.value)
    assert files_under(small_disk) == []
    assert EvidenceItem.objects.count() == 0


def _big_rows(n: int = 600) -> list[dict]:
    return [{"name": f"bucket-{i:04d}-" + "n" * 80, "encrypted": True, "size": i} for i in range(n)]


def test_full_disk_collection_fails_clearly_and_a_later_identical_artifact_is_whole(
    small_disk, field_keys, inventory
):
    conn = connection_create(name="big", collector_key=inventory.key, params={"items": _big_rows()})
    filler = fill(small_disk, leave=8 * 1024)
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        run = collection_run_execute(
            run_id=collection_run_create(connection=conn, trigger="manual").pk
        )
    assert run.status == "failed"
    assert "no space left" in run.error_message and "nothing was stored" in run.error_message
    assert not run.error_permanent  # space may come back: the retry is worth it
    assert files_under(small_disk) == [] and EvidenceItem.objects.count() == 0
    filler.unlink()
    # The same collection at the same instant: byte-identical artifact, same content address.
    with time_machine.travel(moment, tick=False):
        run = collection_run_execute(
            run_id=collection_run_create(connection=conn, trigger="manual").pk
        )
    assert run.status == "succeeded", run.error_message
    result = verify_chain()
    assert result.ok, result.problem


def test_a_corrupt_file_at_a_content_address_is_replaced_not_trusted(media_root, catalogs, users):
    from pixaudit.evidence.canonical import sha256_hex
    from pixaudit.evidence.services.manual import manual_file_path

    # A stub left at the upload's content address (by an old partial write, or bit rot).
    stub = media_root / manual_file_path(sha256_hex(BIG_PDF), "pdf")
    stub.parent.mkdir(parents=True)
    stub.write_bytes(BIG_PDF[:4096])
    item = _upload(users.manager)
    assert (media_root / item.file_path).read_bytes() == BIG_PDF
    assert verify_chain().ok


def test_a_corrupt_artifact_with_the_right_size_is_replaced(media_root, field_keys, inventory):
    conn = connection_create(name="c", collector_key=inventory.key, params={})
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        first = collection_run_execute(
            run_id=collection_run_create(connection=conn, trigger="manual").pk
        ).result.evidence
    target = media_root / first.artifact_path
    data = bytearray(target.read_bytes())
    data[5] ^= 0x01  # same size, different bytes
    target.write_bytes(bytes(data))
    assert not verify_chain().ok
    with time_machine.travel(moment, tick=False):
        second = collection_run_execute(
            run_id=collection_run_create(connection=conn, trigger="manual").pk
        ).result.evidence
    assert second.artifact_path == first.artifact_path == artifact_path(first.sha256)
    assert verify_chain().ok  # the repair restored the bytes the first item chained too
    from pixaudit.auditlog.models import AuditEvent

    repair = AuditEvent.objects.get(action="evidence.artifact_repair")
    assert repair.object_repr == first.artifact_path and repair.details["sha256"] == first.sha256


_SLOW_WRITER = r"""
import hashlib, os, sys, time
import django
django.setup()
from pixaudit.evidence.storage import blob_store

data = b"z" * (8 * 1024 * 1024)

class Slow:
    # A source that delivers its first megabyte, says so, then stalls until killed.
    def __init__(self):
        self.pos = 0
    def seek(self, pos):
        self.pos = pos
    def read(self, size):
        if self.pos >= 1024 * 1024:
            print("writing", flush=True)
            time.sleep(60)
        chunk = data[self.pos:self.pos + size]
        self.pos += len(chunk)
        return chunk

sha = hashlib.sha256(data).hexdigest()
blob_store(sys.argv[1], Slow(), sha256=sha, size=len(data))
"""


def test_a_writer_killed_mid_write_leaves_only_a_partial_file_that_is_swept(tmp_path, settings):
    import hashlib
    import os
    import signal
    import subprocess
    import sys

    from pixaudit.evidence.storage import PARTIAL_DIR, artifact_partials_sweep, artifact_store

    var = tmp_path / "var"
    media = var / "media"  # tests/settings.py puts the store at PIXAUDIT_VAR_DIR/media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    data = b"z" * (8 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    name = artifact_path(sha)
    env = {**os.environ, "PIXAUDIT_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    writer = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, name], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.stdout.close()
    assert not (media / name).exists()  # nothing at the content address
    [partial] = (media / PARTIAL_DIR).iterdir()
    assert partial.stat().st_size >= 1024 * 1024
    # The next writer of the same bytes stores them whole; the sweep removes the leftover.
    assert artifact_store(data, sha) == name and (media / name).read_bytes() == data
    assert artifact_partials_sweep(older_than_seconds=3600) == 0  # too young to be abandoned
    assert artifact_partials_sweep(older_than_seconds=0) == 1
    assert list((media / PARTIAL_DIR).iterdir()) == []


def test_a_report_pdf_on_a_full_disk_leaves_no_partial_file(small_disk):
    from pixaudit.evidence.storage import ArtifactStoreError, file_save_atomic

    fill(small_disk, leave=8 * 1024)
    with pytest.raises(ArtifactStoreError, match="no space left.*nothing was stored"):
        file_save_atomic("reports/7/report.pdf", b"%PDF-1.7\n" + b"r" * 64_000)
    assert files_under(small_disk) == []
    (small_disk / "filler.bin").unlink()
    assert file_save_atomic("reports/7/report.pdf", b"%PDF-1.7\n") == "reports/7/report.pdf"
    # A second report with the same name gets a free variant, never overwrites the first.
    other = file_save_atomic("reports/7/report.pdf", b"%PDF-1.7\nsecond")
    assert other != "reports/7/report.pdf" and other.startswith("reports/7/report")
    assert (small_disk / "reports/7/report.pdf").read_bytes() == b"%PDF-1.7\n"


def test_access_review_completion_on_a_full_disk_keeps_the_campaign_open(
    small_disk, catalogs, users
):
    from collectors import registry
    from pixaudit.reviews.models import Campaign
    from pixaudit.reviews.services import (
        ReviewError,
        campaign_complete,
        campaign_start,
        entries_decide,
    )

    with registry.temporarily(review_fixtures.PeopleCollector):
        conn = connection_create(
            name="Directory",
            collector_key=review_fixtures.PeopleCollector.key,
            params={"items": review_fixtures.PEOPLE},
        )
        review_fixtures.collect(conn)
        campaign = campaign_start(
            connection=conn, name="Q1", due_on=timezone.now().date() + timedelta(days=5),
            user=users.manager,
        )  # fmt: skip
        entries_decide(
            campaign=campaign,
            decisions={e.pk: ("keep", "") for e in campaign.entries.all()},
            user=users.manager,
        )
        before, items = files_under(small_disk), EvidenceItem.objects.count()
        filler = fill(small_disk, leave=0)
        with pytest.raises(ReviewError, match="not stored: .*no space left.*nothing was stored"):
            campaign_complete(campaign=campaign, user=users.manager)
        assert files_under(small_disk) == before and EvidenceItem.objects.count() == items
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.OPEN
        filler.unlink()
        campaign_complete(campaign=campaign, user=users.manager)
    assert verify_chain().ok
