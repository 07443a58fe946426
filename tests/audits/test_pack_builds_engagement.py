"""Engagement pack builds: the auditor's build is stamped for them and theirs alone; other
engagements' auditors, expired ones and engineers never see it; managers do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pixaudit.auditlog.models import AuditEvent
from pixaudit.reports.models import PackBuild
from tests.reports.pack_helpers import pack_via_page
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


def test_auditor_builds_are_their_engagements_and_their_own(world):
    auditor = client_for(world.auditor, verified=False)
    kwargs = {"pk": world.engagement.pk, "report_pk": world.report.pk}
    build, _ = pack_via_page(auditor, reverse("audits:report_pack", kwargs=kwargs))
    assert build.audience == "engagement" and build.engagement_id == world.engagement.pk
    assert world.auditor.email in build.viewer_label
    own = {"pk": world.engagement.pk, "build_pk": build.pk}
    urls = [reverse(f"audits:{n}", kwargs=own) for n in ("pack_detail", "pack_status",
                                                           "pack_download")]  # fmt: skip
    page = auditor.get(reverse("audits:engagement_detail", args=[world.engagement.pk]))
    assert urls[0].encode() in page.content  # "Your evidence pack builds"
    for who, code in (
        (client_for(world.other_auditor, verified=False), 404),
        (client_for(world.expired_auditor, verified=False), 404),
        (client_for(world.engineer), 403),
    ):
        for url in urls:
            assert who.get(url).status_code == code, url
    # Through the other engagement's address: not found either.
    other = {"pk": world.other_engagement.pk, "build_pk": build.pk}
    other_auditor = client_for(world.other_auditor, verified=False)
    assert other_auditor.get(reverse("audits:pack_download", kwargs=other)).status_code == 404
    # The internal pages never serve an engagement build.
    manager = client_for(world.manager)
    assert manager.get(reverse("reports:pack_download", args=[build.pk])).status_code == 404
    # Managers of the engagement see it on the engagement's pages.
    assert manager.get(urls[2]).status_code == 200
    downloads = AuditEvent.objects.filter(action="engagement.download")
    assert set(downloads.values_list("actor_id", flat=True)) == {
        world.auditor.pk,
        world.manager.pk,
    }
    assert PackBuild.objects.count() == 1
