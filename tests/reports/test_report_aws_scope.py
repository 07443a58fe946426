"""Reports and evidence packs limited to one AWS account or one OU.

Three AWS accounts of one integration (A under Root/prod/web, C under Root/prod, B under
Root/sandbox), each with one bucket of its own (A's and B's unencrypted, C's encrypted), and
one connection outside AWS with an account without MFA, collected by the real runner. A
report limited to A leaves out B's and C's results and evidence and keeps the non-AWS
connection's; limited to the prod OU it keeps A and C; limited to C, A.8.24 passes.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from pixaudit.auditlog.models import AuditEvent
from pixaudit.awsorg.models import AwsAccount, AwsAccountConnection, AwsIntegration
from pixaudit.controls.models import Framework
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.reports.models import Report, ReportEvidencePin
from pixaudit.reports.periods import period_default
from pixaudit.reports.selectors import report_data
from pixaudit.reports.services import (
    ReportScopeError,
    pack_build,
    report_pdf_bytes,
    report_render_now,
    report_scope_resolve,
)
from tests.dashboard.conftest import media_root  # noqa: F401
from tests.reports.test_report_scope import _pdf_text

pytestmark = pytest.mark.django_db

FRAMEWORK = "iso27001-2022"
PROD, WEB, SANDBOX = "ou-ab12-prod0001", "ou-ab12-web00001", "ou-ab12-sand0001"
A, B, C = "111111111111", "222222222222", "333333333333"


def _bucket(name: str, encrypted: bool) -> str:
    return json.dumps([{"name": name, "kind": "storage", "encrypted": encrypted,
                        "key_age_days": 10, "owner": "ops"}])  # fmt: skip


def _run(conn):
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    assert run.status == "succeeded", run.error_message


@pytest.fixture
def org(catalogs, media_root):  # noqa: F811
    """Accounts A (Root/prod/web), C (Root/prod), B (Root/sandbox) with a bucket each (A's
    and B's unencrypted: failing A.8.24) and an on-premises connection whose account has
    no MFA (failing A.8.5)."""
    integration = AwsIntegration.objects.create(
        name="Org", mode="organization", collectors=["demo_inventory"]
    )
    now = timezone.now()
    places = {
        A: ("web-prod", WEB, [WEB, PROD], "Root/prod/web"),
        B: ("play", SANDBOX, [SANDBOX], "Root/sandbox"),
        C: ("core-prod", PROD, [PROD], "Root/prod"),
    }
    conns = {}
    for account, (name, ou, ous, path) in places.items():
        AwsAccount.objects.create(integration=integration, account_id=account, name=name,
                                  ou=ou, ous=ous, ou_path=path, last_seen_at=now)  # fmt: skip
        conn = connection_create(
            name=f"Org · {account} · demo", collector_key="demo_inventory",
            params={"resources": _bucket(f"bucket-{name}", encrypted=account == C)},
        )  # fmt: skip
        AwsAccountConnection.objects.create(
            integration=integration, account_id=account, collector_key="demo_inventory",
            connection=conn,
        )  # fmt: skip
        _run(conn)
        conns[account] = conn
    onprem = [{"name": "onprem-admin", "kind": "account", "mfa": False, "owner": "ops"}]
    conns["onprem"] = connection_create(name="On-prem", collector_key="demo_inventory",
                                        params={"resources": json.dumps(onprem)})  # fmt: skip
    _run(conns["onprem"])
    return conns


def _failing(data) -> set[str]:
    return {f.resource for s in data.sections for a in s.assertions for f in a.failing}


def test_scope_is_checked_against_the_accounts_and_ous_in_stored_evidence(org):
    scope = report_scope_resolve(framework_key=FRAMEWORK, aws_account=A)
    assert (scope.aws_account, scope.aws_ou) == (A, "")
    assert scope.aws_scope_label == f"AWS account {A} web-prod"
    scope = report_scope_resolve(framework_key=FRAMEWORK, aws_ou=PROD)
    assert scope.aws_scope_label == f"OU Root/prod ({PROD})"
    with pytest.raises(ReportScopeError, match="999999999999.*no collected evidence"):
        report_scope_resolve(framework_key=FRAMEWORK, aws_account="999999999999")
    with pytest.raises(ReportScopeError, match="not above any collected AWS account"):
        report_scope_resolve(framework_key=FRAMEWORK, aws_ou="ou-zz99-nothere1")
    with pytest.raises(ReportScopeError, match="not both"):
        report_scope_resolve(framework_key=FRAMEWORK, aws_account=A, aws_ou=PROD)
    with pytest.raises(CommandError, match="no collected evidence"):
        call_command("report", "--framework", FRAMEWORK, "--aws-account", "999999999999",
                     "--out", "/nonexistent/never-written.pdf")  # fmt: skip
    assert not Report.objects.exists()


def test_report_for_one_account_leaves_out_another_accounts_failing_finding(org, tmp_path):
    everything = report_data(framework=Framework.objects.get(key=FRAMEWORK),
                             period=period_default(days=7))  # fmt: skip
    assert {"bucket-web-prod", "bucket-play", "onprem-admin"} <= _failing(everything)
    report = report_render_now(scope=report_scope_resolve(framework_key=FRAMEWORK, aws_account=A))
    assert report.status == "succeeded", report.error_message
    assert report.filename.endswith(f"-aws-{A}.pdf")
    text = _pdf_text(report_pdf_bytes(report=report), tmp_path)
    assert f"AWS scope Limited to AWS account {A} web-prod" in text  # the cover
    assert "This report's AWS scope" in text and "kept unchanged" in text  # scope statement
    assert "AWS scope: results and evidence of AWS account" in text  # the control's section
    assert "bucket-web-prod" in text and "onprem-admin" in text  # A's and the non-AWS one
    assert "bucket-play" not in text
    assert B not in text and C not in text  # not even in "AWS controls by account"
    # The pin records what was left out; the pack is rebuilt from it and says the scope.
    pin = ReportEvidencePin.objects.get(report=report)
    assert sorted(pin.aws_excluded_connections) == sorted([org[B].pk, org[C].pk])
    buffer = io.BytesIO()
    pack_build(report=report, fileobj=buffer)
    with zipfile.ZipFile(buffer) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        index = list(csv.DictReader(io.StringIO(zf.read("evidence-index.csv").decode())))
        assert "limited to AWS account" in zf.read("README.txt").decode()
    assert manifest["aws_scope"] == {"account": A, "ou": "", "label": report.aws_scope_label}
    assert {row["connection"] for row in index} == {org[A].name, "On-prem"}


def test_ou_scope_keeps_its_accounts_only_and_the_non_aws_results(org):
    framework = Framework.objects.get(key=FRAMEWORK)
    data = report_data(framework=framework, period=period_default(days=7), aws_ou=PROD)
    assert {a.account_id for a in data.aws_accounts} == {A, C}  # A sits in web, under prod
    assert _failing(data) >= {"bucket-web-prod", "onprem-admin"}
    assert "bucket-play" not in _failing(data)
    assert {e.connection_id for e in data.evidence} == {org[A].pk, org[C].pk, org["onprem"].pk}
    section = next(s for s in data.sections if s.control.ref == "A.8.24")
    assert section.aws and section.status == "failing"
    # Sandbox only: B's bucket and the on-premises disk, nothing of prod.
    data = report_data(framework=framework, period=period_default(days=7), aws_ou=SANDBOX)
    assert _failing(data) >= {"bucket-play", "onprem-admin"}
    assert "bucket-web-prod" not in _failing(data)


def test_form_refuses_an_unknown_account_and_logs_the_scope_of_what_it_queues(org, manager_client):
    url = reverse("reports:list")
    default = period_default()
    post = {"framework": FRAMEWORK, "start": default.start, "end": default.end}
    page = manager_client.get(url)
    assert f'<option value="{A}">{A} web-prod</option>' in page.content.decode()
    assert f'<option value="{PROD}">Root/prod</option>' in page.content.decode()
    for bad, says in (({"aws_account": "999999999999"}, "has no collected evidence"),
                      ({"aws_ou": "ou-zz99-nothere1"}, "not above any collected"),
                      ({"aws_account": A, "aws_ou": PROD}, "not both")):  # fmt: skip
        page = manager_client.post(url, {**post, **bad})
        assert page.status_code == 200 and says in page.content.decode()
    assert not Report.objects.exists()  # nothing generated
    page = manager_client.post(url, {**post, "aws_ou": SANDBOX})
    report = Report.objects.get()
    assert page.status_code == 302 and (report.aws_ou, report.aws_account) == (SANDBOX, "")
    event = AuditEvent.objects.get(action="report.requested")
    assert event.details["aws_scope"] == {
        "account": "", "ou": SANDBOX, "label": f"OU Root/sandbox ({SANDBOX})",
    }  # fmt: skip
    detail = manager_client.get(reverse("reports:detail", args=[report.pk])).content.decode()
    assert f"Limited to OU Root/sandbox ({SANDBOX})" in detail


def test_download_and_pack_logs_carry_the_scope(org, manager_client):
    from pixaudit.reports import services_packs
    from pixaudit.reports.models import PackBuild

    report = report_render_now(scope=report_scope_resolve(framework_key=FRAMEWORK, aws_account=B))
    manager_client.get(reverse("reports:download", args=[report.pk]))
    event = AuditEvent.objects.get(action="report.downloaded")
    assert event.details["aws_scope"]["account"] == B
    manager_client.post(reverse("reports:pack", args=[report.pk]))
    build = PackBuild.objects.get(report=report)
    services_packs.pack_build_execute(build_id=build.pk)  # the job's body
    build.refresh_from_db()
    assert build.status == "succeeded", build.error_message
    assert build.filename.endswith(f"-aws-{B}-evidence-pack.zip")
    manager_client.get(reverse("reports:pack_download", args=[build.pk]))
    event = AuditEvent.objects.get(action="pack.downloaded")
    assert event.details["aws_scope"]["account"] == B
    event = AuditEvent.objects.get(action="pack.build_requested")
    assert event.details["aws_scope"]["account"] == B


def test_unscoped_report_is_unchanged(org):
    data = report_data(framework=Framework.objects.get(key=FRAMEWORK),
                       period=period_default(days=7))  # fmt: skip
    assert data.aws_scope is None and data.pin().aws_excluded is None
    assert {a.account_id for a in data.aws_accounts} == {A, B, C}


def test_engagement_report_limited_to_an_ou_and_a_refused_account(org, manager, monkeypatch):
    from tests.security.helpers import client_for, engagement_make

    queued: list[int] = []

    def render_here(*, scope, created_by=None):  # the job's body, instead of the queue
        queued.append(1)
        return report_render_now(scope=scope, created_by=created_by)

    monkeypatch.setattr("pixaudit.audits.services.report_request", render_here)
    default = period_default(days=7)
    engagement = engagement_make(framework=Framework.objects.get(key=FRAMEWORK),
                                 start=default.start, end=default.end)  # fmt: skip
    client = client_for(manager)
    page = client.get(reverse("audits:engagement_detail", args=[engagement.pk]))
    assert f'<option value="{SANDBOX}">Root/sandbox</option>' in page.content.decode()
    url = reverse("audits:report_generate", args=[engagement.pk])
    page = client.post(url, {"framework": FRAMEWORK, "aws_account": "999999999999"}, follow=True)
    assert "has no collected evidence" in page.content.decode()
    assert not Report.objects.exists() and not queued  # nothing generated
    client.post(url, {"framework": FRAMEWORK, "aws_ou": SANDBOX})
    report = Report.objects.get()
    assert (report.engagement_id, report.aws_ou, report.status) == (
        engagement.pk,
        SANDBOX,
        "succeeded",
    )
    event = AuditEvent.objects.get(action="report.requested")
    assert event.details["aws_scope"]["ou"] == SANDBOX
    page = client.get(reverse("audits:engagement_detail", args=[engagement.pk])).content.decode()
    assert f"limited to OU Root/sandbox ({SANDBOX})" in page


def test_coverage_and_status_of_an_account_leave_the_other_accounts_out(org):
    framework = Framework.objects.get(key=FRAMEWORK)
    period = period_default(days=7)

    def a824(data):
        section = next(s for s in data.sections if s.control.ref == "A.8.24")
        return section.status, section.coverage.days[-1]

    assert a824(report_data(framework=framework, period=period)) == ("failing", "failing")
    # C's bucket is encrypted: judged on C (and what is not AWS), A.8.24 passes, today too.
    assert a824(report_data(framework=framework, period=period, aws_account=C)) == (
        "passing",
        "passing",
    )
    assert a824(report_data(framework=framework, period=period, aws_account=B)) == (
        "failing",
        "failing",
    )
    # A.8.5 is tested by the on-premises connection only: the same in every scope.
    for scope in ({}, {"aws_account": C}, {"aws_ou": PROD}):
        data = report_data(framework=framework, period=period, **scope)
        section = next(s for s in data.sections if s.control.ref == "A.8.5")
        assert (section.status, section.coverage.days[-1]) == ("failing", "failing")


def test_a_rebuilt_report_leaves_out_what_it_left_out_when_rendered(org):
    framework = Framework.objects.get(key=FRAMEWORK)
    period = period_default(days=7)
    pin = report_data(framework=framework, period=period, aws_ou=PROD).pin()
    assert sorted(pin.aws_excluded) == [org[B].pk]
    # A leaves the prod OU after the render: the pack's data still holds it, as the PDF did.
    AwsAccount.objects.filter(account_id=A).update(ous=[SANDBOX], ou_path="Root/sandbox")
    rebuilt = report_data(framework=framework, period=period, aws_ou=PROD, pin=pin)
    assert {a.account_id for a in rebuilt.aws_accounts} == {A, C}
    fresh = report_data(framework=framework, period=period, aws_ou=PROD)
    assert {a.account_id for a in fresh.aws_accounts} == {C}


def test_oscal_results_of_a_scoped_report_say_the_scope_and_stay_valid(org):
    from pixaudit.reports.services import oscal_export
    from tests.reports.oscal_schema import errors

    scope = report_scope_resolve(framework_key=FRAMEWORK, aws_account=A)
    _, scoped = oscal_export(scope=scope)
    assert errors(scoped, "assessment-results") == []
    result = scoped["assessment-results"]["results"][0]
    props = {p["name"]: p["value"] for p in result["props"]}
    assert props["aws-account"] == A and "aws-ou" not in props
    assert props["aws-scope"] == scope.aws_scope_label and A in props["aws-scope"]
    assert f"This report is limited to {scope.aws_scope_label}" in result["description"]
    assert result["title"].endswith(f"({scope.aws_scope_label})")
    observed = {o["description"] for o in result["observations"]}
    assert not any(org[B].name in d or org[C].name in d for d in observed)
    assert any(org[A].name in d for d in observed) and any("On-prem" in d for d in observed)
    # The unscoped document says nothing of a scope and has other UUIDs.
    _, everything = oscal_export(scope=report_scope_resolve(framework_key=FRAMEWORK))
    whole = everything["assessment-results"]["results"][0]
    assert not {"aws-account", "aws-ou", "aws-scope"} & {p["name"] for p in whole["props"]}
    assert "limited to" not in whole["description"] and whole["uuid"] != result["uuid"]
