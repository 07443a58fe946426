"""The AWS integration pages: the form's per-collector switch, the templates, the run page."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from collectors.aws._cloudformation import template_policy
from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.awsorg.models import AwsAccountRun, AwsIntegration, AwsIntegrationRun
from pixaudit.awsorg.services.config import IntegrationError, aws_integration_create
from tests.security.helpers import client_for, user_make

pytestmark = pytest.mark.django_db


def _form(**extra):
    return {
        "name": "Production org", "mode": "organization",
        "collectors": ["aws_s3_buckets", "aws_kms_keys"],
        "access_key_id": "AKIAEXAMPLEEXAMPLE", "secret_access_key": "s3cr3t-value-123",
        "member_role_name": "pixaudit-readonly", "member_external_id": "ext-42",
        "exclude_ous": "ou-abcd-12345678", "include_tags": "env=prod",
        "schedule_minutes": "720", **extra,
    }  # fmt: skip


def test_form_creates_an_integration_with_only_the_switched_on_collectors():
    client = client_for(user_make(Role.ENGINEER), verified=False)
    response = client.post(reverse("awsorg:create"), _form())
    integration = AwsIntegration.objects.get(name="Production org")
    assert response.status_code == 302
    assert integration.collectors == ["aws_kms_keys", "aws_s3_buckets"]
    assert integration.account_rules == {
        "exclude_ous": ["ou-abcd-12345678"], "include_tags": {"env": "prod"}
    }  # fmt: skip
    assert "s3cr3t-value-123" not in json.dumps(integration.secrets)  # encrypted
    event = AuditEvent.objects.get(action="aws_integration.created")
    assert "s3cr3t" not in json.dumps(event.details)
    page = client.get(reverse("awsorg:detail", args=[integration.pk])).content.decode()
    assert reverse("awsorg:template", args=[integration.pk]) in page
    assert reverse("awsorg:stackset", args=[integration.pk]) in page

    template = json.loads(client.get(reverse("awsorg:template", args=[integration.pk])).content)
    granted = {a for s in template_policy(template)["Statement"] for a in s["Action"]}
    from collectors import registry

    declared = {
        a for key in ("aws_s3_buckets", "aws_kms_keys") for a in registry.get(key).permissions
    }
    assert granted == declared
    assert AuditEvent.objects.filter(action="aws_integration.template_downloaded").exists()


def test_bad_input_is_named_per_field_and_nothing_is_stored():
    client = client_for(user_make(Role.ENGINEER), verified=False)
    response = client.post(
        reverse("awsorg:create"),
        _form(exclude_ous="engineering", include_ids="12345"),
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Not OU ids (ou-... or r-...): engineering." in text
    assert "Not 12-digit account ids: 12345." in text
    assert not AwsIntegration.objects.exists()
    with pytest.raises(IntegrationError) as caught:
        aws_integration_create(name="x", mode="account", collectors=["nope"])
    assert caught.value.errors == {"collectors": "Unknown AWS collectors: nope."}


def test_run_page_shows_progress_per_account_and_the_suspended_ones():
    integration = aws_integration_create(name="Org", mode="organization",
                                         collectors=["aws_s3_buckets"])  # fmt: skip
    run = AwsIntegrationRun.objects.create(
        integration=integration, status="running", accounts_total=2,
        suspended=[{"id": "333333333333", "name": "old", "status": "SUSPENDED"}],
    )  # fmt: skip
    AwsAccountRun.objects.create(run=run, account_id="111111111111", status="succeeded",
                                 collectors_total=1, collectors_done=1, api_calls=4)  # fmt: skip
    AwsAccountRun.objects.create(
        run=run, account_id="222222222222", status="failed", collectors_total=1,
        collectors_done=1, collectors_failed=1,
        message="cannot assume role arn:aws:iam::222222222222:role/x: AccessDenied",
    )  # fmt: skip
    client = client_for(user_make(Role.ENGINEER), verified=False)
    page = client.get(reverse("awsorg:run_detail", args=[run.pk])).content.decode()
    assert "Accounts: 2 of 2 done" in page and "1 failed" in page
    assert "333333333333" in page and "(suspended)" in page
    assert "AccessDenied" in page
    assert 'http-equiv="refresh"' in page  # still running: the page refreshes


def test_run_page_shows_each_accounts_region_jobs_and_the_accounts_waiting_for_a_slot():
    from django.utils import timezone

    integration = aws_integration_create(
        name="Org", mode="organization", collectors=["aws_ebs_volumes", "aws_s3_buckets"],
        params={"regions": ["eu-west-1", "us-east-1"]}, max_parallel_accounts=1,
    )  # fmt: skip
    run = AwsIntegrationRun.objects.create(integration=integration, status="running",
                                           accounts_total=2)  # fmt: skip
    now = timezone.now()
    for region, status in (("", "succeeded"), ("eu-west-1", "failed"), ("us-east-1", "running")):
        AwsAccountRun.objects.create(
            run=run, account_id="111111111111", region=region, status=status, pushed_at=now,
            collectors_total=1, message="AccessDenied on ec2:DescribeVolumes in eu-west-1"
            if status == "failed" else "",
        )  # fmt: skip
    for region in ("", "eu-west-1", "us-east-1"):
        AwsAccountRun.objects.create(run=run, account_id="222222222222", region=region)
    client = client_for(user_make(Role.ENGINEER), verified=False)
    page = client.get(reverse("awsorg:run_detail", args=[run.pk])).content.decode()
    assert "Accounts: 0 of 2 done, 1 running." in page
    assert "Jobs: 2 of 6 done (4 of them per region)." in page
    assert "At most 1 account at once." in page
    assert page.count("region eu-west-1") == 2 and page.count("region us-east-1") == 2
    assert page.count("Waiting for a slot") == 3  # the second account's three jobs
    assert "AccessDenied on ec2:DescribeVolumes in eu-west-1" in page
