"""Per-region jobs: one job per account for the global collectors, one per account x region
for the region-scoped ones; a region that fails is ERROR for that account and region only."""

from __future__ import annotations

import boto3
import pytest

from pixaudit.awsorg.models import AwsAccount, AwsAccountConnection, AwsAccountRun, RunState
from pixaudit.awsorg.services.config import aws_collectors, aws_integration_create
from pixaudit.awsorg.services.runs import aws_integration_run_start, job_plan, region_scoped
from pixaudit.demo.aws_org_sandbox import deny_region
from pixaudit.evidence.models import EvidenceItem, LatestResult

pytestmark = pytest.mark.django_db(transaction=False)

REGIONS = ["eu-west-1", "us-east-1"]
KEYS = ["aws_cloudtrail", "aws_ebs_volumes", "aws_iam_users", "aws_s3_buckets"]


def _integration(box, regions=REGIONS, keys=KEYS, **extra):
    return aws_integration_create(
        name="Regions", mode="organization", collectors=keys, params={"regions": regions},
        secrets={"access_key_id": "testing", "secret_access_key": "testing"},
        member_external_id="pixaudit-external-id",
        account_rules={"exclude_ids": [box.management, *box.members[2:]]},
        **extra,
    )  # fmt: skip


def test_the_rule_splits_region_scoped_collectors_only_with_two_regions(organisation):
    classes = {cls.key: cls for cls in aws_collectors()}
    assert region_scoped(classes["aws_ebs_volumes"])
    assert not region_scoped(classes["aws_cloudtrail"])  # per="table": needs every region
    assert not region_scoped(classes["aws_s3_buckets"])  # global listing
    plan = job_plan(_integration(organisation))
    assert plan.jobs() == [
        ("", ("aws_cloudtrail", "aws_iam_users", "aws_s3_buckets")),
        ("eu-west-1", ("aws_ebs_volumes",)),
        ("us-east-1", ("aws_ebs_volumes",)),
    ]
    one = aws_integration_create(
        name="One region", mode="account", collectors=KEYS, params={"regions": ["us-east-1"]}
    )
    assert job_plan(one).jobs() == [("", tuple(KEYS))]


def test_one_job_per_account_and_region_and_a_denied_region_is_error_there_only(
    organisation, django_capture_on_commit_callbacks
):
    box = organisation
    a, b = box.members[0], box.members[1]
    for account in (a, b):  # a volume in each region of each collected member
        creds = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/pixaudit-readonly", RoleSessionName="seed",
            ExternalId="pixaudit-external-id",
        )["Credentials"]  # fmt: skip
        boto3.client(
            "ec2", region_name="eu-west-1", aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        ).create_volume(AvailabilityZone="eu-west-1a", Size=8)  # fmt: skip
    integration = _integration(box, keys=KEYS[1:])  # CloudTrail: only in the rule's test
    undo = deny_region(b, "eu-west-1")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = aws_integration_run_start(integration=integration)
    finally:
        undo()
    run.refresh_from_db()
    jobs = {(j.account_id, j.region): j for j in AwsAccountRun.objects.filter(run=run)}
    assert set(jobs) == {(x, r) for x in (a, b) for r in ("", *REGIONS)}
    assert run.accounts_total == 2
    assert jobs[(a, "")].collectors == ["aws_iam_users", "aws_s3_buckets"]
    assert jobs[(a, "eu-west-1")].collectors == ["aws_ebs_volumes"]
    # Every job but b's eu-west-1 one succeeded; the run says partial and finished.
    failed = {k for k, j in jobs.items() if j.status != RunState.SUCCEEDED}
    assert failed == {(b, "eu-west-1")}, {k: j.message for k, j in jobs.items()}
    assert "AccessDenied" in jobs[(b, "eu-west-1")].message
    assert run.status == RunState.PARTIAL and run.finished_at is not None
    # One connection per (account, region) for the volumes, holding that region's rows only.
    links = AwsAccountConnection.objects.filter(integration=integration)
    ebs = {
        (x.account_id, x.region): x.connection
        for x in links.filter(collector_key="aws_ebs_volumes")
    }
    assert set(ebs) == {(x, r) for x in (a, b) for r in REGIONS}
    assert ebs[(a, "eu-west-1")].params["regions"] == ["eu-west-1"]
    item = EvidenceItem.objects.get(connection=ebs[(a, "eu-west-1")])
    assert item.row_count == 1
    volumes = LatestResult.objects.filter(connection=ebs[(a, "eu-west-1")])
    assert volumes.exists() and all(":eu-west-1:" in v.resource for v in volumes)
    # The denied region: ERROR on b's eu-west-1 connection and nowhere else.
    errors = LatestResult.objects.filter(status="error")
    assert set(errors.values_list("connection_id", flat=True)) == {ebs[(b, "eu-west-1")].pk}
    assert LatestResult.objects.filter(connection=ebs[(b, "us-east-1")], status="fail").exists()
    # The OU path was stored with each account (the listing walks the tree).
    account = AwsAccount.objects.get(integration=integration, account_id=a)
    assert account.ou_path == "Root/prod" and account.ous == [box.ous["prod"]]


def test_max_parallel_accounts_admits_the_next_account_when_one_finishes(
    organisation, django_capture_on_commit_callbacks, monkeypatch
):
    """With a limit of 1, the listing queues the first account's jobs only; the second
    account's are queued when the first account's last job finished."""
    from pixaudit.awsorg.services import runs

    box = organisation
    a, b = sorted(box.members[:2])  # accounts are admitted in account id order
    integration = _integration(box, keys=["aws_ebs_volumes", "aws_iam_users"],
                               max_parallel_accounts=1)  # fmt: skip
    queued: list[int] = []
    monkeypatch.setattr(runs, "_push", lambda func, pk, job_id, timeout=None: queued.append(pk))

    def account_of(pk: int) -> str:
        return AwsAccountRun.objects.get(pk=pk).account_id

    with django_capture_on_commit_callbacks(execute=True):
        run = aws_integration_run_start(integration=integration)
    queued.clear()  # the listing job's own push
    with django_capture_on_commit_callbacks(execute=True):
        runs.aws_integration_run_discover(run_id=run.pk)
    assert len(AwsAccountRun.objects.filter(run=run)) == 6  # 2 accounts x (account + 2 regions)
    assert [account_of(pk) for pk in queued] == [a, a, a]
    waiting = AwsAccountRun.objects.filter(run=run, pushed_at__isnull=True)
    assert set(waiting.values_list("account_id", flat=True)) == {b}
    first = list(queued)
    queued.clear()
    for n, pk in enumerate(first, 1):
        with django_capture_on_commit_callbacks(execute=True):
            runs.aws_account_run_execute(account_run_id=pk)
        # Nothing of b's is queued while one of a's jobs has not finished.
        assert [account_of(p) for p in queued] == ([b, b, b] if n == len(first) else [])
    for pk in list(queued):
        with django_capture_on_commit_callbacks(execute=True):
            runs.aws_account_run_execute(account_run_id=pk)
    run.refresh_from_db()
    assert run.status == RunState.SUCCEEDED, run.error_message
