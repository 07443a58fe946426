"""``manage.py demo`` (what ``make demo`` runs before serving) on the test database."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from pixaudit.accounts.models import User
from pixaudit.audits.models import Engagement
from pixaudit.audits.selectors import engagement_downloads
from pixaudit.commitments.models import Commitment
from pixaudit.demo.scope import DEMO_NARRATIVES
from pixaudit.evidence.integrity import verify_chain
from pixaudit.evidence.models import CollectionRun, Connection, RunStatus
from pixaudit.reports.models import ControlNarrative, Report, ScopeStatement
from pixaudit.reports.services import report_pdf_bytes
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
    # The report states the organisation's scope and how it performs a few controls.
    scope = ScopeStatement.objects.get(framework__key="soc2-2017")
    assert scope.system_description and scope.boundaries and scope.subservice_organisations
    assert scope.complementary_user_entity_controls and scope.management_assertion
    assert scope.signatory_name and scope.assertion_date and scope.availability
    narratives = {n.control.ref for n in ControlNarrative.objects.select_related("control")}
    assert narratives == set(DEMO_NARRATIVES)
    text = " ".join(
        " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(report_pdf_bytes(
            report=report))).pages).split()
    )  # fmt: skip
    assert "Acme Cloud Photo is a multi-tenant SaaS" in text
    assert "Amazon Web Services (infrastructure hosting" in text
    assert "Dana Reyes" in text
    assert "How the organisation performs this control" in text
    assert "Every change reaches production through a pull request" in text


@pytest.mark.django_db
def test_demo_scope_is_written_once(tmp_path):
    from pixaudit.accounts.models import Role
    from pixaudit.controls.models import Framework
    from pixaudit.controls.services import catalogs_load_builtin
    from pixaudit.demo.scope import demo_scope_ensure
    from tests.security.helpers import user_make

    catalogs_load_builtin()
    soc2 = Framework.objects.get(key="soc2-2017")
    manager = user_make(Role.COMPLIANCE_MANAGER)
    assert demo_scope_ensure(framework=soc2, actor=manager) == (True, len(DEMO_NARRATIVES))
    assert demo_scope_ensure(framework=soc2, actor=manager) == (False, 0)
    assert ScopeStatement.objects.count() == 1


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
