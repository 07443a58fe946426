"""Reads of the AWS integration app."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from pixaudit.awsorg.models import AwsAccountConnection, AwsAccountRun, AwsIntegrationRun


def integration_run_progress(run: AwsIntegrationRun) -> dict[str, int]:
    """Accounts of a run per state, and collectors done over total (one query)."""
    agg = run.accounts.aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status__in=["succeeded", "partial", "failed"])),
        failed=Count("id", filter=Q(status="failed")),
        partial=Count("id", filter=Q(status="partial")),
        running=Count("id", filter=Q(status="running")),
    )
    return {k: v or 0 for k, v in agg.items()}


def account_runs(run: AwsIntegrationRun) -> QuerySet[AwsAccountRun]:
    return run.accounts.order_by("account_id")


def account_connection_ids(account_id: str) -> list[int]:
    """Ids of every evidence connection that collects the AWS account ``account_id``."""
    return list(
        AwsAccountConnection.objects.filter(account_id=account_id).values_list(
            "connection_id", flat=True
        )
    )


def known_accounts() -> list[tuple[str, str]]:
    """(account id, label) of every account some integration collects, for filters."""
    from pixaudit.awsorg.models import AwsAccount

    seen: dict[str, str] = {}
    linked = set(AwsAccountConnection.objects.values_list("account_id", flat=True).distinct())
    for account in AwsAccount.objects.filter(account_id__in=linked).order_by("account_id"):
        label = f"{account.account_id} {account.name}".strip()
        seen.setdefault(account.account_id, label)
    for account_id in sorted(linked - set(seen)):
        seen[account_id] = account_id
    return sorted(seen.items())
