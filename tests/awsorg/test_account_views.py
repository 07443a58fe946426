"""Findings grouped and filtered by AWS account and OU: control list, control detail, report.

Real runs through the runner (the demo collector on connections linked to accounts of an
AWS integration exactly as the fan-out links them): the same resource name in two
accounts is two rows that say which account each is from.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from pixaudit.awsorg.models import AwsAccount, AwsAccountConnection, AwsIntegration
from pixaudit.awsorg.selectors import aws_scope, known_ous
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.reports.periods import period_default
from pixaudit.reports.rendering import report_html
from pixaudit.reports.selectors import report_data

pytestmark = pytest.mark.django_db

BAD = [{"name": "bucket-logs", "kind": "storage", "encrypted": False, "owner": "platform"}]
GOOD = [{"name": "bucket-logs", "kind": "storage", "encrypted": True, "key_age_days": 10,
         "owner": "platform"}]  # fmt: skip
PROD, WEB, SANDBOX = "ou-ab12-prod0001", "ou-ab12-web00001", "ou-ab12-sand0001"
A, B = "111111111111", "222222222222"


@pytest.fixture
def org(catalogs, media_root):
    """Account A under Root/prod/web (eu-west-1 connection), B under Root/sandbox; both
    report bucket-logs failing; a connection outside AWS reports it passing."""
    integration = AwsIntegration.objects.create(
        name="Org", mode="organization", collectors=["demo_inventory"]
    )
    now = timezone.now()
    AwsAccount.objects.create(integration=integration, account_id=A, name="web-prod",
                              ou=WEB, ous=[WEB, PROD], ou_path="Root/prod/web",
                              last_seen_at=now)  # fmt: skip
    AwsAccount.objects.create(integration=integration, account_id=B, name="play",
                              ou=SANDBOX, ous=[SANDBOX], ou_path="Root/sandbox",
                              last_seen_at=now)  # fmt: skip
    for account, region in ((A, "eu-west-1"), (B, "")):
        conn = connection_create(
            name=f"Org · {account} · demo", collector_key="demo_inventory",
            params={"resources": json.dumps(BAD)},
        )  # fmt: skip
        AwsAccountConnection.objects.create(
            integration=integration, account_id=account, collector_key="demo_inventory",
            region=region, connection=conn,
        )  # fmt: skip
        _run(conn)
    _run(connection_create(name="On-prem", collector_key="demo_inventory",
                           params={"resources": json.dumps(GOOD)}))  # fmt: skip
    return integration


def _run(conn):
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    assert run.status == "succeeded", run.error_message


def test_scope_by_account_and_by_ou_at_any_depth(org):
    assert dict(known_ous()) == {PROD: "Root/prod", WEB: "Root/prod/web", SANDBOX: "Root/sandbox"}
    links = {x.account_id: x.connection_id for x in AwsAccountConnection.objects.all()}
    assert aws_scope(ou=PROD).connections == [links[A]]  # A sits in web, under prod
    assert aws_scope(ou=SANDBOX).connections == [links[B]]
    assert aws_scope(account=A, ou=SANDBOX).connections == []  # A is not under sandbox
    assert not aws_scope(account="12345", ou="nonsense").active  # malformed: no filter


def test_control_detail_tells_the_same_resource_in_two_accounts_apart_and_filters(org, logged_in):
    url = reverse("dashboard:control_detail", args=["iso27001-2022", "A.8.24"])
    page = logged_in.get(url)
    html = page.content.decode()
    rows = [(r.resource, r.aws_place.account_id if r.aws_place else None)
            for r, _ in page.context["failing"]]  # fmt: skip
    assert sorted(rows, key=str) == [("bucket-logs", A), ("bucket-logs", B)]
    assert "AWS account · region" in html and "eu-west-1" in html
    by_account = {a.account_id: a for a in page.context["by_account"]}
    assert by_account[A].counts.get("fail") and by_account[A].ou_path == "Root/prod/web"
    assert {p for p, _, _ in page.context["by_ou"]} == {"Root/prod/web", "Root/sandbox"}
    # Filtered by OU: only B's result, said on the page, the OU selected in the form.
    page = logged_in.get(url, {"ou": SANDBOX})
    html = page.content.decode()
    assert [r.aws_place.account_id for r, _ in page.context["failing"]] == [B]
    assert "OU <code>Root/sandbox</code>" in html
    assert f'<option value="{SANDBOX}" selected>' in html
    page = logged_in.get(url, {"account": A})
    assert [r.aws_place.account_id for r, _ in page.context["failing"]] == [A]


def test_control_list_groups_by_account_and_ou_and_keeps_the_filter_on_links(org, logged_in):
    url = reverse("dashboard:control_list")
    page = logged_in.get(url, {"framework": "iso27001-2022", "ou": PROD})
    html = page.content.decode()
    assert [a.account_id for a in page.context["by_account"]] == [A]
    assert f"?ou={PROD}" in html  # links to control detail keep the scope
    assert "OU <code>Root/prod</code> only" in html
    page = logged_in.get(url, {"framework": "iso27001-2022"})
    assert {a.account_id for a in page.context["by_account"]} == {A, B}
    assert 'id="by-ou"' in page.content.decode()


def test_report_has_a_per_account_section_for_aws_controls(org):
    from pixaudit.controls.models import Framework

    data = report_data(framework=Framework.objects.get(key="iso27001-2022"),
                       period=period_default(days=7))  # fmt: skip
    accounts = {a.account_id: a for a in data.aws_accounts}
    assert set(accounts) == {A, B}  # the on-prem connection is not an AWS account
    assert "A.8.24" in accounts[A].controls_failing
    assert accounts[B].ou_path == "Root/sandbox" and accounts[A].region_list == ["eu-west-1"]
    html = report_html(data)
    assert 'id="aws-accounts"' in html and "Root/prod/web" in html
