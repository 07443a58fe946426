"""aws_backup_plans: an account with a complete plan passes; without one it fails.

moto 5 does not implement backup selections, so ListBackupSelections is answered by a
botocore hook (the sandbox server does the same in its middleware).
"""

from __future__ import annotations

from typing import Any

import boto3

from collectors import Status
from collectors.aws.aws_backup_plans import BackupPlansCollector
from collectors.testing import run_collector

PARAMS = {"regions": ["eu-west-1", "us-east-1"]}
RULE = {
    "RuleName": "daily",
    "TargetBackupVaultName": "Default",
    "ScheduleExpression": "cron(0 5 * * ? *)",
    "Lifecycle": {"DeleteAfterDays": 35},
}


def _plan(region: str, name: str) -> dict[str, Any]:
    return boto3.client("backup", region_name=region).create_backup_plan(
        BackupPlan={"BackupPlanName": name, "Rules": [RULE]}
    )


def _selections(selected: set[str]) -> Any:
    def answer(params: Any) -> dict[str, Any]:
        plan = params["url_path"].split("/")[3]
        names = [{"SelectionName": "tagged", "SelectionId": "s1"}] if plan in selected else []
        return {"BackupSelectionsList": names}

    return answer


def test_plan_with_rules_and_selection_passes(aws: None, hooked: Any) -> None:
    good = _plan("us-east-1", "daily-35d")
    bad = _plan("eu-west-1", "unassigned")
    factory = hooked(fake={"ListBackupSelections": _selections({good["BackupPlanId"]})})
    result = run_collector(BackupPlansCollector, PARAMS, aws_session_factory=factory)
    statuses = result.statuses("aws_backup_plans.configured")
    assert statuses == {"*": Status.PASS, bad["BackupPlanArn"]: Status.WARN}
    row = next(r for r in result.rows if r["arn"] == good["BackupPlanArn"])
    assert row["rules"][0]["delete_after_days"] == 35 and row["selections"] == ["tagged"]


def test_no_complete_plan_fails(aws: None, hooked: Any) -> None:
    _plan("us-east-1", "unassigned")
    factory = hooked(fake={"ListBackupSelections": _selections(set())})
    result = run_collector(BackupPlansCollector, PARAMS, aws_session_factory=factory)
    assert result.finding("aws_backup_plans.configured", "*").status is Status.FAIL


def test_no_plan_at_all_fails(aws: None) -> None:
    result = run_collector(BackupPlansCollector, PARAMS)
    assert result.statuses("aws_backup_plans.configured") == {"*": Status.FAIL}


def test_denied_selections_is_an_error(aws: None, hooked: Any) -> None:
    good = _plan("us-east-1", "daily-35d")
    factory = hooked(deny=("ListBackupSelections",))
    result = run_collector(BackupPlansCollector, PARAMS, aws_session_factory=factory)
    finding = result.finding("aws_backup_plans.configured", good["BackupPlanArn"])
    assert finding.status is Status.ERROR
    assert "backup:ListBackupSelections" in finding.message


def test_unread_selections_make_the_account_verdict_an_error_not_a_fail(
    aws: None, hooked: Any
) -> None:
    """Issue 12.9: ListBackupSelections failing is ERROR per plan *and* for the account."""
    plan = _plan("us-east-1", "daily-35d")
    factory = hooked(deny=("ListBackupSelections",))
    result = run_collector(BackupPlansCollector, PARAMS, aws_session_factory=factory)
    statuses = result.statuses("aws_backup_plans.configured")
    assert statuses == {"*": Status.ERROR, plan["BackupPlanArn"]: Status.ERROR}
    message = result.finding("aws_backup_plans.configured", "*").message
    assert "unknown" in message and "daily-35d (us-east-1: selections not read)" in message


def test_one_complete_plan_passes_even_when_another_is_unread(aws: None, hooked: Any) -> None:
    good = _plan("us-east-1", "daily-35d")
    other = _plan("eu-west-1", "weekly")
    factory = hooked(
        deny=("ListBackupSelections",),
        regions=("eu-west-1",),
        fake={"ListBackupSelections": _selections({good["BackupPlanId"]})},
    )
    result = run_collector(BackupPlansCollector, PARAMS, aws_session_factory=factory)
    assert result.statuses("aws_backup_plans.configured") == {
        "*": Status.PASS,
        other["BackupPlanArn"]: Status.ERROR,
    }


def test_an_unreadable_region_makes_none_found_an_error(aws: None, hooked: Any) -> None:
    """No complete plan in the regions read, one region unreadable: unknown, not FAIL."""
    _plan("us-east-1", "unassigned")
    factory = hooked(
        deny=("ListBackupPlans",),
        regions=("eu-west-1",),
        fake={"ListBackupSelections": _selections(set())},
    )
    result = run_collector(BackupPlansCollector, PARAMS, aws_session_factory=factory)
    star = [f for f in result.findings_for("aws_backup_plans.configured") if f.resource == "*"]
    assert [f.status for f in star] == [Status.ERROR]
    assert "eu-west-1" in star[0].message
