"""Retention of evidence pack files: the daily sweep removes the stored ZIPs of builds older
than ``PIXAUDIT_PACK_RETENTION_DAYS``, keeps the latest successful build of each pack
(a report's internal builds; an engagement build per requester), audit-logs each removal,
and the build's page says the file was removed and offers a new build (no 404/500)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.reports import jobs, services_packs
from pixaudit.reports.models import PackAudience, PackBuild
from tests.security.helpers import user_make

pytestmark = pytest.mark.django_db


def _built(report, user, *, days_ago: int, audience=PackAudience.INTERNAL) -> PackBuild:
    """A succeeded build with a stored file, finished ``days_ago`` days ago."""
    build = PackBuild.objects.create(report=report, audience=audience, requested_by=user,
                                     status="succeeded", filename="pack.zip")  # fmt: skip
    data = f"zip of build {build.pk}".encode()
    path = default_storage.save(f"packs/{report.pk}/{build.pk}/pack.zip", ContentFile(data))
    finished = timezone.now() - timedelta(days=days_ago)
    PackBuild.objects.filter(pk=build.pk).update(file_path=path, size=len(data),
                                                 sha256="a" * 64, finished_at=finished)  # fmt: skip
    build.refresh_from_db()
    return build


def test_old_files_are_swept_the_latest_of_each_pack_is_kept_and_logged(
    manager, stored_report, settings
) -> None:
    settings.PIXAUDIT_PACK_RETENTION_DAYS = 30
    alice = user_make(Role.AUDITOR, "retention-alice")
    bob = user_make(Role.AUDITOR, "retention-bob")
    oldest = _built(stored_report, manager, days_ago=40)
    older = _built(stored_report, alice, days_ago=35)  # internal: requesters share a scope
    recent = _built(stored_report, manager, days_ago=2)
    # Engagement builds: one scope per requester. Alice's only build is kept however old.
    alice_only = _built(stored_report, alice, days_ago=90, audience=PackAudience.ENGAGEMENT)
    bob_old = _built(stored_report, bob, days_ago=50, audience=PackAudience.ENGAGEMENT)
    bob_latest = _built(stored_report, bob, days_ago=45, audience=PackAudience.ENGAGEMENT)
    failed = PackBuild.objects.create(report=stored_report, audience=PackAudience.INTERNAL,
                                      status="failed", finished_at=timezone.now()
                                      - timedelta(days=99))  # fmt: skip

    result = jobs.pack_builds_sweep_job()

    swept = {oldest.pk, older.pk, bob_old.pk}
    assert set(result["builds"]) == swept and result["swept"] == 3
    for build in (oldest, older, recent, alice_only, bob_old, bob_latest, failed):
        build.refresh_from_db()
        assert (build.swept_at is not None) == (build.pk in swept), build
        if build.file_path:
            assert default_storage.exists(build.file_path) == (build.pk not in swept), build
    events = AuditEvent.objects.filter(action="pack.swept")
    assert sorted(e.details["pack_build_id"] for e in events) == sorted(swept)
    logged = events.get(details__pack_build_id=bob_old.pk).details
    assert logged["requested_by"] == "retention-bob" and logged["retention_days"] == 30
    assert logged["sha256"] == "a" * 64 and logged["file_path"] == bob_old.file_path
    # Again: nothing left to sweep, nothing logged twice.
    assert services_packs.pack_builds_sweep() == []
    assert AuditEvent.objects.filter(action="pack.swept").count() == 3
    # A longer retention keeps what a shorter one would remove.
    settings.PIXAUDIT_PACK_RETENTION_DAYS = 60
    bob_latest_again = _built(stored_report, bob, days_ago=1, audience=PackAudience.ENGAGEMENT)
    assert services_packs.pack_builds_sweep() == []
    assert bob_latest_again.pk not in services_packs.pack_builds_sweep(
        now=timezone.now() + timedelta(days=10)
    )
    assert services_packs.pack_builds_sweep(now=timezone.now() + timedelta(days=10)) == []


def test_a_swept_build_says_so_and_offers_a_new_build(manager, manager_client,
                                                      stored_report) -> None:  # fmt: skip
    old = _built(stored_report, manager, days_ago=40)
    _built(stored_report, manager, days_ago=1)
    assert services_packs.pack_builds_sweep() == [old.pk]

    page = manager_client.get(reverse("reports:pack_detail", args=[old.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="pack-swept"' in text and "Build the pack again" in text
    assert 'data-testid="pack-download"' not in text
    status = manager_client.get(reverse("reports:pack_status", args=[old.pk])).json()
    assert status["download_url"] == "" and status["swept_at"]
    assert (
        "removed on" in status["swept_message"]
        and "build the pack again" in (status["swept_message"])
    )
    download = manager_client.get(reverse("reports:pack_download", args=[old.pk]), follow=True)
    assert download.status_code == 200
    assert "by the retention policy" in download.content.decode()
    assert not AuditEvent.objects.filter(action="pack.downloaded").exists()
    detail = manager_client.get(reverse("reports:detail", args=[stored_report.pk]))
    assert "file removed" in detail.content.decode()

    rebuilt = manager_client.post(reverse("reports:pack", args=[stored_report.pk]))
    new = PackBuild.objects.order_by("-pk").first()
    assert new.pk not in (old.pk,) and rebuilt["Location"] == reverse(
        "reports:pack_detail", args=[new.pk]
    )
