"""Evidence pack builds in tests: ask for one as a page does, run its job, download it."""

from __future__ import annotations

from django.urls import reverse

from pixaudit.reports.models import PackAudience, PackBuild, PackBuildStatus
from pixaudit.reports.services_packs import pack_build_execute, pack_build_request


def pack_download_url(build: PackBuild) -> str:
    if build.audience == PackAudience.ENGAGEMENT:
        kwargs = {"pk": build.engagement_id, "build_pk": build.pk}
        return reverse("audits:pack_download", kwargs=kwargs)
    return reverse("reports:pack_download", args=[build.pk])


def pack_build_via_page(client, build_url: str) -> PackBuild:
    """POST the page's "Build the evidence pack", then run the queued job here (tests keep
    jobs on commit, which a test's transaction never reaches); returns the finished build."""
    before = PackBuild.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client.post(build_url)
    assert response.status_code == 302, response.status_code
    build = PackBuild.objects.filter(pk__gt=before).order_by("-pk").first()
    assert build is not None, "no build was recorded"
    if build.status == PackBuildStatus.QUEUED:
        pack_build_execute(build_id=build.pk)
    build.refresh_from_db()
    return build


def pack_via_page(client, build_url: str) -> tuple[PackBuild, bytes]:
    """Build through the page, then download the stored ZIP; ``(build, zip bytes)``."""
    build = pack_build_via_page(client, build_url)
    assert build.status == PackBuildStatus.SUCCEEDED, build.error_message
    response = client.get(pack_download_url(build))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return build, b"".join(response.streaming_content)


def pack_build_ready(*, report, requested_by, audience: str, viewer_label: str = ""):
    """A succeeded build of ``report``'s pack (reused when one exists), for URL tables."""
    existing = PackBuild.objects.filter(
        report=report, audience=audience, requested_by=requested_by,
        status=PackBuildStatus.SUCCEEDED,
    ).first()  # fmt: skip
    if existing is not None:
        return existing
    build, _ = pack_build_request(
        report=report, requested_by=requested_by, audience=audience, viewer_label=viewer_label
    )
    return pack_build_execute(build_id=build.pk)
