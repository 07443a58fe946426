"""Evidence packs are built by a job, never inside the request: a stored build row and file,
progress on the build's page, a failure that says why and can be built again, downloads of
the stored ZIP (audit-logged)."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from pixaudit.auditlog.models import AuditEvent
from pixaudit.lib import embedded_worker
from pixaudit.reports import services, services_packs, signing
from pixaudit.reports.models import PackBuild, ReportEvidencePin
from pixaudit.reports.verify import verify_pack
from tests.jobs.conftest import skip_on_shared_memory_sqlite, wait_for
from tests.reports.pack_helpers import pack_build_via_page, pack_via_page


@pytest.fixture
def worker(transactional_db):
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


@pytest.mark.django_db(transaction=True)
def test_build_returns_at_once_shows_progress_then_serves_the_stored_file(
    worker, manager, manager_client, stored_report, monkeypatch
):
    skip_on_shared_memory_sqlite()
    real_build = services_packs.pack_build

    def slow_build(**kwargs):  # stands in for minutes of packing a year of evidence
        kwargs["progress"](40, "Packed CC6.1")
        time.sleep(3)
        return real_build(**kwargs)

    monkeypatch.setattr(services_packs, "pack_build", slow_build)
    started = time.monotonic()
    response = manager_client.post(reverse("reports:pack", args=[stored_report.pk]))
    answered = time.monotonic() - started
    build = PackBuild.objects.get()
    assert response.status_code == 302 and answered < 2.0, f"held the request {answered:.1f} s"
    assert response["Location"] == reverse("reports:pack_detail", args=[build.pk])
    page = manager_client.get(response["Location"]).content.decode()
    assert 'id="pack-status"' in page and "pack-status.js" in page
    status_url = reverse("reports:pack_status", args=[build.pk])
    first = manager_client.get(status_url).json()
    assert first["status"] in ("queued", "running") and first["active"], first
    assert not first["download_url"]
    wait_for(
        lambda: manager_client.get(status_url).json()["progress_message"] == "Packed CC6.1",
        timeout=30,
        what="the build's progress",
    )
    wait_for(
        lambda: manager_client.get(status_url).json()["status"] == "succeeded",
        timeout=60,
        what="the pack to be built",
    )
    done = manager_client.get(status_url).json()
    build.refresh_from_db()
    assert done["download_url"] == reverse("reports:pack_download", args=[build.pk])
    assert build.requested_by == manager and build.started_at and build.finished_at
    # The file is stored, and its recorded size and digest are the stored bytes'.
    with default_storage.open(build.file_path, "rb") as fh:
        stored = fh.read()
    assert len(stored) == build.size == done["size"]
    assert hashlib.sha256(stored).hexdigest() == build.sha256 == done["sha256"]
    download = manager_client.get(done["download_url"])
    data = b"".join(download.streaming_content)
    assert data == stored and download["X-Content-SHA256"] == build.sha256
    assert "attachment" in download["Content-Disposition"]
    event = AuditEvent.objects.get(action="pack.downloaded")
    assert event.actor_id == manager.pk and event.details["pack_build_id"] == build.pk
    assert event.details["sha256"] == build.sha256
    # Asked for again while one is running: the same build, not a second one.
    assert AuditEvent.objects.filter(action="pack.build_requested").count() == 1


@pytest.mark.django_db
def test_pack_from_the_stored_build_is_the_pack_the_report_always_made(
    manager_client, stored_report, tmp_path
):
    """Same entries and manifest as a pack built directly (``manage.py pack``'s path)."""
    build, data = pack_via_page(manager_client, reverse("reports:pack", args=[stored_report.pk]))
    direct = services.pack_build_tempfile(report=stored_report)
    with direct.file:
        direct_bytes = direct.file.read()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as built,
        zipfile.ZipFile(io.BytesIO(direct_bytes)) as made,
    ):
        assert built.namelist() == made.namelist()
        sums = [set(z.read("SHA256SUMS").decode().splitlines()) for z in (built, made)]
        differ = {line.split("  ", 1)[1] for line in sums[0] ^ sums[1]}
        # Only what records the moment of packing may differ (the manifest, and workbooks'
        # creation time); the PDF, every CSV table and every raw artifact are the same bytes.
        differ -= {"manifest.json", "manifest.sig", "README.txt"}
        assert all(name.endswith(".xlsx") for name in differ), sorted(
            n for n in differ if not n.endswith(".xlsx")
        )
        assert any(name.endswith(".csv") for name in built.namelist())
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    assert verify_pack(path, public_key_pem=signing.public_key_pem()).ok


@pytest.mark.django_db
def test_a_failed_build_says_why_and_can_be_built_again(manager_client, stored_report):
    pin = ReportEvidencePin.objects.get(report=stored_report)
    ReportEvidencePin.objects.filter(pk=pin.pk).update(evidence_ids=[*pin.evidence_ids, 987654])
    url = reverse("reports:pack", args=[stored_report.pk])
    failed = pack_build_via_page(manager_client, url)
    assert failed.status == "failed" and not failed.file_path
    assert "no longer stored" in failed.error_message and "987654" in failed.error_message
    status = manager_client.get(reverse("reports:pack_status", args=[failed.pk])).json()
    assert status["error_message"] == failed.error_message
    assert status["retry_url"] == url and not status["download_url"]
    assert "Traceback" not in failed.error_message
    download = manager_client.get(reverse("reports:pack_download", args=[failed.pk]))
    assert download.status_code == 302  # back to the build page, which says why

    ReportEvidencePin.objects.filter(pk=pin.pk).update(evidence_ids=pin.evidence_ids)
    response = manager_client.post(url, {"retry_of": failed.pk})
    retried = PackBuild.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("reports:pack_detail", args=[retried.pk])
    assert retried.retry_of_id == failed.pk
    services_packs.pack_build_execute(build_id=retried.pk)
    retried.refresh_from_db()
    assert retried.status == "succeeded" and retried.size > 0
    failed.refresh_from_db()
    assert failed.status == "failed"  # the failed attempt stays as it was


@pytest.mark.django_db
def test_a_full_disk_is_said_in_words(manager_client, stored_report, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(services_packs.default_storage, "save", full)
    build = pack_build_via_page(manager_client, reverse("reports:pack", args=[stored_report.pk]))
    assert build.status == "failed"
    assert build.error_message == (
        "The evidence pack could not be written to storage (No space left on device): check "
        "free disk space and that the storage is writable, then build it again."
    )


@pytest.mark.django_db
def test_a_stored_pack_changed_on_disk_is_not_served(manager_client, stored_report):
    build, _ = pack_via_page(manager_client, reverse("reports:pack", args=[stored_report.pk]))
    with default_storage.open(build.file_path, "wb") as fh:
        fh.write(b"truncated")
    response = manager_client.get(reverse("reports:pack_download", args=[build.pk]), follow=True)
    assert "changed since it was built: build it again" in response.content.decode()
