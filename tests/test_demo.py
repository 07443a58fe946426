"""``manage.py demo`` (what ``make demo`` runs before serving) on the test database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
    assert "demo-auditor" in out
    # Nothing serves after a bare `manage.py demo` (what `NO_SERVE=1 make demo` runs): the
    # last lines say how to start the site instead of claiming it is up.
    last = out.strip().splitlines()[-2:]
    assert last[0].startswith("Nothing is serving the site yet"), last
    assert "make serve" in last[0] and "/accounts/login/" in last[1]
    assert not any(line.startswith("Sign in at") for line in out.splitlines())
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


def test_demo_closing_lines_say_the_site_is_served_only_when_it_is():
    from pixaudit.dashboard.management.commands.demo import closing_lines

    serving = closing_lines("127.0.0.1:8000")
    assert serving[-1] == "Sign in at http://127.0.0.1:8000/accounts/login/"
    assert "Serving the site on http://127.0.0.1:8000/" in serving[0]
    idle = "\n".join(closing_lines(None))
    assert "Nothing is serving" in idle and "Sign in at" not in idle


def _make_dry_run(**env: str) -> list[str]:
    root = Path(__file__).resolve().parent.parent
    environ = {k: v for k, v in os.environ.items() if k != "NO_SERVE"} | env
    result = subprocess.run(
        ["make", "-n", "demo"], cwd=root, env=environ, capture_output=True, text=True, check=True
    )
    return [line for line in result.stdout.splitlines() if "manage.py" in line]


def test_make_demo_serves_and_tells_the_demo_so_but_no_serve_does_neither():
    served = _make_dry_run()
    assert any("manage.py demo --then-serve 127.0.0.1:8000" in line for line in served), served
    assert any("manage.py runserver 127.0.0.1:8000" in line for line in served), served
    not_served = _make_dry_run(NO_SERVE="1")
    assert any(line.endswith("manage.py demo") for line in not_served), not_served
    assert not any("runserver" in line or "--then-serve" in line for line in not_served)
