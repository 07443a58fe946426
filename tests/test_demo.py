"""``manage.py demo`` (what ``make demo`` runs before serving) on the test database."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from pixaudit.accounts.models import User
from pixaudit.audits.models import Engagement
from pixaudit.audits.selectors import engagement_downloads
from pixaudit.commitments.models import Commitment
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import CollectionRun, Connection, RunStatus
from pixaudit.reports.models import Report
from pixaudit.reviews.models import Campaign


@pytest.mark.django_db(transaction=True)
def test_demo_collects_from_every_sandbox_and_leaves_a_verifiable_chain(capsys):
    call_command("demo")
    out = capsys.readouterr().out
    runs = list(CollectionRun.objects.select_related("connection"))
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}, [r.error_message for r in runs]
    keys = {r.collector_key for r in runs}
    assert {"demo_inventory", "tls_endpoints", "aws_s3_buckets", "aws_iam_users"} <= keys
    assert sum(r.findings_fail for r in runs) > 0 and sum(r.findings_pass for r in runs) > 0
    assert verify_chain().ok
    # Sandboxes are gone once the demo has collected: their connections are switched off.
    assert not Connection.objects.filter(name__startswith="Sandbox", enabled=True).exists()
    assert User.objects.filter(username__startswith="demo-").count() == 4
    assert "demo-auditor" in out and "Sign in at" in out
    report = Report.objects.get()
    assert report.status == "succeeded" and len(report.sha256) == 64
    # It is the demo engagement's report: the demo auditor is offered the PDF and the pack.
    engagement = Engagement.objects.get()
    assert report.engagement_id == engagement.pk
    auditor = User.objects.get(username="demo-auditor")
    labels = [d.label for d in engagement_downloads(engagement=engagement, user=auditor)]
    assert len(labels) == 2, labels
    assert "SOC 2 report rendered" in out
    assert Commitment.objects.count() >= 10
    campaign = Campaign.objects.get()
    assert campaign.connection.collector_key == "aws_iam_users"
