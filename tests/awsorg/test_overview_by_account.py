"""The framework overview scoped to an AWS account or OU, and its "By AWS account" table.

Real runs through the runner (the demo collector on connections linked to accounts of an
AWS integration exactly as the fan-out links them). Account A (Root/prod/web) has an
unencrypted bucket, account B (Root/sandbox) an encrypted one, and a connection outside
AWS has an unencrypted one too.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pixaudit.awsorg.models import AwsAccount, AwsAccountConnection, AwsIntegration
from pixaudit.awsorg.selectors import aws_scope
from pixaudit.controls.models import Framework
from pixaudit.evidence.models import Connection, LatestResult
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_update,
)
from pixaudit.posture.selectors import framework_posture

pytestmark = pytest.mark.django_db

ISO = "iso27001-2022"
PROD, WEB, SANDBOX = "ou-ab12-prod0001", "ou-ab12-web00001", "ou-ab12-sand0001"
A, B = "111111111111", "222222222222"


def _bucket(i: int, encrypted: bool) -> dict:
    row = {"name": f"bucket-{i}", "kind": "storage", "encrypted": encrypted, "owner": "platform"}
    return row | ({"key_age_days": 10} if encrypted else {})


def _run(conn):
    run = collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    assert run.status == "succeeded", run.error_message


def _estate(buckets: int = 1):
    """A: ``buckets`` unencrypted buckets; B: encrypted ones; on-prem: unencrypted."""
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
    for account, encrypted in ((A, False), (B, True)):
        rows = [_bucket(i, encrypted) for i in range(buckets)]
        conn = connection_create(
            name=f"Org · {account} · demo", collector_key="demo_inventory",
            params={"resources": json.dumps(rows)},
        )  # fmt: skip
        AwsAccountConnection.objects.create(
            integration=integration, account_id=account, collector_key="demo_inventory",
            connection=conn,
        )  # fmt: skip
        _run(conn)
    onprem = [_bucket(i, False) for i in range(buckets)]
    _run(connection_create(name="On-prem", collector_key="demo_inventory",
                           params={"resources": json.dumps(onprem)}))  # fmt: skip


@pytest.fixture
def estate(catalogs, media_root):
    _estate()


def _status(response, ref):
    return next(c.status for c in response.context["posture"].controls if c.control.ref == ref)


def test_overview_filters_by_account_and_ou_and_says_so(estate, logged_in):
    url = reverse("dashboard:overview", args=[ISO])
    whole = logged_in.get(url)
    assert _status(whole, "A.8.24") == "failing"  # on-prem and A
    assert not whole.context["scope"].active and 'data-testid="scope"' not in whole.content.decode()

    only_b = logged_in.get(url, {"account": B})
    assert _status(only_b, "A.8.24") == "passing"  # B's bucket is encrypted
    html = only_b.content.decode()
    assert f"AWS account <code>{B}</code>" in html
    assert f'href="{url}" data-testid="clear-scope"' in html
    # links keep the scope: control list, status counts, control detail
    assert f"?framework={ISO}&amp;account={B}" in html
    assert f"&amp;status=passing&amp;account={B}" in html

    only_a = logged_in.get(url, {"account": A})
    assert _status(only_a, "A.8.24") == "failing"
    detail = reverse("dashboard:control_detail", args=[ISO, "A.8.24"])
    assert f'href="{detail}?account={A}"' in only_a.content.decode()  # "Fix first" link

    prod = logged_in.get(url, {"ou": PROD})  # A sits in web, under prod
    assert _status(prod, "A.8.24") == "failing"
    assert "OU <code>Root/prod</code>" in prod.content.decode()
    assert _status(logged_in.get(url, {"ou": SANDBOX}), "A.8.24") == "passing"

    # the home page is the first framework's overview and takes the same filter
    home = logged_in.get("/", {"account": B})
    assert home.context["framework"].key == ISO and _status(home, "A.8.24") == "passing"


def test_by_account_table_counts_controls_as_the_filtered_overview_judges_them(estate, logged_in):
    url = reverse("dashboard:overview", args=[ISO])
    response = logged_in.get(url)
    rows = response.context["by_account"]
    assert [r.account_id for r in rows] == [A, B]  # failing first
    assert (rows[0].account_name, rows[0].ou_path) == ("web-prod", "Root/prod/web")
    assert rows[0].failing >= 1 and rows[1].failing == 0 and rows[1].passing >= 1
    # Each row = what the overview filtered to that account says, for the controls with
    # results there (the table reads current state once; the page runs the posture).
    for row in rows:
        scoped = framework_posture(
            framework=Framework.objects.get(key=ISO),
            connections=aws_scope(row.account_id).connections,
        )
        expected = Counter(c.status for c in scoped.controls if c.states)
        expected.pop("not_applicable", None)
        assert row.statuses == dict(expected), row.account_id
    html = response.content.decode()
    assert "By AWS account" in html
    for row in rows:
        assert f'href="{url}?account={row.account_id}"' in html
    # within a scope the table only has that scope's accounts
    scoped = logged_in.get(url, {"ou": SANDBOX}).context["by_account"]
    assert [r.account_id for r in scoped] == [B]


def test_no_aws_accounts_no_table_no_filter(catalogs, media_root, logged_in):
    _run(connection_create(name="On-prem", collector_key="demo_inventory",
                           params={"resources": json.dumps([_bucket(0, False)])}))  # fmt: skip
    response = logged_in.get(reverse("dashboard:overview", args=[ISO]))
    html = response.content.decode()
    assert response.context["by_account"] == [] and "By AWS account" not in html
    assert 'name="account"' not in html


def test_risk_accepted_failure_counts_as_passing_in_its_account_only(estate, logged_in):
    """Accepted risks are keyed by connection: accepting A's unencrypted bucket makes
    A.8.24 pass for A (as the overview filtered to A says) and changes nothing else."""
    from pixaudit.accounts.models import Role
    from pixaudit.exceptions.models import ExceptionRecord
    from pixaudit.exceptions.services import acceptance_decide, acceptance_request
    from tests.security.helpers import user_make

    link = AwsAccountConnection.objects.get(account_id=A)
    record = ExceptionRecord.objects.get(
        connection_id=link.connection_id, assertion_id="demo_inventory.encryption_at_rest",
        closed_at__isnull=True,
    )  # fmt: skip
    url = reverse("dashboard:overview", args=[ISO])
    before = {r.account_id: r.statuses for r in logged_in.get(url).context["by_account"]}
    acceptance = acceptance_request(
        exception=record, reason="Retired next month.",
        expires_on=timezone.now().date() + timedelta(days=5),
        actor=user_make(Role.ENGINEER),
    )  # fmt: skip
    acceptance_decide(acceptance=acceptance, approve=True, note="ok",
                      actor=user_make(Role.COMPLIANCE_MANAGER))  # fmt: skip
    response = logged_in.get(url, {"account": A})
    assert _status(response, "A.8.24") == "risk_accepted"
    after = {r.account_id: r.statuses for r in logged_in.get(url).context["by_account"]}
    assert after[B] == before[B]
    assert after[A].get("risk_accepted", 0) == before[A].get("risk_accepted", 0) + 1
    assert after[A].get("failing", 0) == before[A]["failing"] - 1
    assert _status(logged_in.get(url), "A.8.24") == "failing"  # on-prem still fails


def _queries(client, url, params) -> int:
    with CaptureQueriesContext(db) as ctx:
        assert client.get(url, params).status_code == 200
    return len(ctx)


def test_overview_query_count_does_not_grow_with_findings(
    catalogs, media_root, logged_in, django_assert_max_num_queries
):
    _estate(1)
    url = reverse("dashboard:overview", args=[ISO])
    logged_in.get(url)  # first request of the session
    small = [_queries(logged_in, url, p) for p in ({}, {"account": A}, {"ou": PROD})]
    # 40 more findings in each account and outside AWS
    for conn in Connection.objects.all():
        rows = [_bucket(i, "On-prem" not in conn.name and i % 2 == 0) for i in range(40)]
        connection_update(connection=conn, params={"resources": json.dumps(rows)})
        _run(conn)
    assert LatestResult.objects.count() > 200
    large = [_queries(logged_in, url, p) for p in ({}, {"account": A}, {"ou": PROD})]
    assert large == small
    with django_assert_max_num_queries(40):
        logged_in.get(url, {"account": A})
