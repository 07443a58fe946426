"""Reads of the AWS integration app: run progress, and the account / OU view of results.

Every result of an AWS integration comes from an (account, collector[, region]) evidence
connection (:class:`AwsAccountConnection`), so the account, the region and, through the
account's last listing (:class:`AwsAccount`), the OU path of any finding follow from its
connection. The pages filter with :func:`aws_scope` (``?account=`` / ``?ou=``) and group with
:func:`connection_places` and :func:`account_breakdown`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from pixaudit.awsorg.models import (
    AwsAccount,
    AwsAccountConnection,
    AwsAccountRun,
    AwsIntegrationRun,
)
from pixaudit.exceptions.acceptances import accepted_failures

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_OU_ID = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")


def integration_run_progress(run: AwsIntegrationRun) -> dict[str, int]:
    """Accounts of a run per state (an account is done when all its jobs are), and jobs."""
    states: dict[str, list[str]] = {}
    for account_id, status in run.accounts.values_list("account_id", "status"):
        states.setdefault(account_id, []).append(status)
    final = ("succeeded", "partial", "failed")
    out = {"total": len(states), "done": 0, "failed": 0, "partial": 0, "running": 0}
    for statuses in states.values():
        if all(s in final for s in statuses):
            out["done"] += 1
            if all(s == "failed" for s in statuses):
                out["failed"] += 1
            elif any(s != "succeeded" for s in statuses):
                out["partial"] += 1
        elif any(s != "queued" for s in statuses):
            out["running"] += 1
    jobs = run.accounts.aggregate(
        jobs=Count("id"),
        jobs_done=Count("id", filter=Q(status__in=final)),
        regional_jobs=Count("id", filter=~Q(region="")),
    )
    out.update({k: v or 0 for k, v in jobs.items()})
    return out


def account_runs(run: AwsIntegrationRun) -> QuerySet[AwsAccountRun]:
    return run.accounts.order_by("account_id", "region")


@dataclass
class AccountProgress:
    """One account of a run: its own job and its per-region jobs (run page)."""

    account_id: str
    account_name: str
    ou: str
    jobs: list[AwsAccountRun] = field(default_factory=list)

    @property
    def status(self) -> str:
        states = {j.status for j in self.jobs}
        if states <= {"succeeded"}:
            return "succeeded"
        if states <= {"failed"}:
            return "failed"
        if states & {"queued", "running"}:
            return "running" if states - {"queued"} else "queued"
        return "partial"


def run_accounts(run: AwsIntegrationRun) -> list[AccountProgress]:
    """The run's jobs grouped by account (the account's job first, then its regions)."""
    out: dict[str, AccountProgress] = {}
    for job in account_runs(run):
        entry = out.setdefault(
            job.account_id, AccountProgress(job.account_id, job.account_name, job.ou)
        )
        entry.jobs.append(job)
    return list(out.values())


def account_connection_ids(account_id: str) -> list[int]:
    """Ids of every evidence connection that collects the AWS account ``account_id``."""
    return list(
        AwsAccountConnection.objects.filter(account_id=account_id).values_list(
            "connection_id", flat=True
        )
    )


def _accounts() -> dict[str, AwsAccount]:
    """account id -> its most recently seen listing row (over integrations)."""
    out: dict[str, AwsAccount] = {}
    for account in AwsAccount.objects.order_by("account_id", "-last_seen_at", "-id"):
        out.setdefault(account.account_id, account)
    return out


def ou_accounts(ou: str) -> list[str]:
    """Ids of the accounts under the OU ``ou`` (at any depth; a root id: every account)."""
    return sorted(
        account_id
        for account_id, account in _accounts().items()
        if ou in (account.ous or ()) or (ou.startswith("r-") and account.ou_path)
    )


@dataclass(frozen=True)
class AwsScope:
    """What ``?account=`` and ``?ou=`` chose: ``connections`` None means every source."""

    account: str = ""
    ou: str = ""
    ou_label: str = ""
    connections: list[int] | None = None

    @property
    def active(self) -> bool:
        return self.connections is not None

    @property
    def query(self) -> str:
        """The query string that keeps the scope on links (``""`` or ``account=..&ou=..``)."""
        parts = [f"account={self.account}"] if self.account else []
        return "&".join(parts + ([f"ou={self.ou}"] if self.ou else []))


def aws_scope(account: str = "", ou: str = "") -> AwsScope:
    """The connections of one AWS account and/or one OU (both: the account if it is under
    the OU). Malformed ids are ignored (no filter), as a hand-edited URL should be."""
    account = account.strip() if _ACCOUNT_ID.match(account.strip()) else ""
    ou = ou.strip() if _OU_ID.match(ou.strip()) else ""
    if not account and not ou:
        return AwsScope()
    accounts = {account} if account else None
    if ou:
        under = set(ou_accounts(ou))
        accounts = under if accounts is None else accounts & under
    ids = list(
        AwsAccountConnection.objects.filter(account_id__in=sorted(accounts or ())).values_list(
            "connection_id", flat=True
        )
    )
    return AwsScope(account, ou, dict(known_ous()).get(ou, ou) if ou else "", sorted(ids))


def aws_connections_outside(scope: AwsScope) -> list[int]:
    """Ids of the AWS integration connections a scope leaves out (one query; none when the
    scope is not active). What a report limited to one account or OU drops: connections
    that are not an AWS integration's (on-premises, SaaS, manual) are never in this list."""
    if not scope.active:
        return []
    kept = set(scope.connections or ())
    return sorted(
        i
        for i in AwsAccountConnection.objects.values_list("connection_id", flat=True)
        if i not in kept
    )


def aws_scope_label(scope: AwsScope) -> str:
    """The scope in words, as the pages and reports say it ("" when not active)."""
    if not scope.active:
        return ""
    parts = []
    if scope.account:
        name = dict(known_accounts()).get(scope.account, scope.account)
        parts.append(f"AWS account {name}")
    if scope.ou:
        parts.append(f"OU {scope.ou_label} ({scope.ou})" if scope.ou_label != scope.ou
                     else f"OU {scope.ou}")  # fmt: skip
    return " in ".join(parts)


def known_accounts() -> list[tuple[str, str]]:
    """(account id, label) of every account some integration collects, for filters (one
    query when there is none)."""
    linked = set(AwsAccountConnection.objects.values_list("account_id", flat=True).distinct())
    if not linked:
        return []
    accounts = _accounts()
    out = []
    for account_id in sorted(linked):
        account = accounts.get(account_id)
        out.append((account_id, f"{account_id} {account.name}".strip() if account else account_id))
    return out


def known_ous() -> list[tuple[str, str]]:
    """(OU id, path by name) of every OU above a collected account, by path, for filters."""
    linked = set(AwsAccountConnection.objects.values_list("account_id", flat=True).distinct())
    if not linked:
        return []
    out: dict[str, str] = {}
    for account_id, account in _accounts().items():
        if account_id not in linked or not account.ous:
            continue
        names = account.ou_path.split("/")  # root name first, then each OU down
        ids = list(reversed(account.ous))  # the OU ids from the top down
        for depth, ou in enumerate(ids, start=2):
            out.setdefault(ou, "/".join(names[:depth]))
    return sorted(out.items(), key=lambda kv: (kv[1], kv[0]))


@dataclass(frozen=True)
class Place:
    """Where a connection's results come from in AWS."""

    account_id: str
    account_name: str = ""
    ou_path: str = ""
    region: str = ""


def connection_places(connection_ids: Iterable[int | None]) -> dict[int, Place]:
    """connection id -> its AWS account, account name, OU path and region (only the
    connections of an AWS integration; two queries)."""
    ids = sorted({i for i in connection_ids if i is not None})
    if not ids:
        return {}
    links = list(
        AwsAccountConnection.objects.filter(connection_id__in=ids).values_list(
            "connection_id", "account_id", "region"
        )
    )
    accounts = _accounts() if links else {}
    out = {}
    for connection_id, account_id, region in links:
        account = accounts.get(account_id)
        out[connection_id] = Place(
            account_id, account.name if account else "", account.ou_path if account else "",
            region,
        )  # fmt: skip
    return out


@dataclass
class AccountCounts:
    """Current results of some assertions in one AWS account, per status."""

    account_id: str
    account_name: str
    ou_path: str
    counts: dict[str, int] = field(default_factory=dict)
    regions: set[str] = field(default_factory=set)
    controls_failing: list[str] = field(default_factory=list)

    @property
    def failing(self) -> int:
        return self.counts.get("fail", 0) + self.counts.get("error", 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def region_list(self) -> list[str]:
        return sorted(r for r in self.regions if r)


def account_breakdown(
    per_connection: Iterable[tuple[int | None, str, int]],
) -> list[AccountCounts]:
    """Group ``(connection id, status, count)`` by AWS account (accounts with failures
    first, then by OU path and id). Connections outside AWS integrations are left out."""
    rows = list(per_connection)
    places = connection_places(c for c, _, _ in rows)
    out: dict[str, AccountCounts] = {}
    for connection_id, status, n in rows:
        place = places.get(connection_id) if connection_id is not None else None
        if place is None:
            continue
        entry = out.setdefault(
            place.account_id, AccountCounts(place.account_id, place.account_name, place.ou_path)
        )
        entry.counts[status] = entry.counts.get(status, 0) + n
        entry.regions.add(place.region)
    return sorted(out.values(), key=lambda a: (-a.failing, a.ou_path, a.account_id))


def current_account_breakdown(
    *, assertion_ids: Collection[str], connections: Collection[int] | None = None
) -> list[AccountCounts]:
    """Current results (``LatestResult``) of ``assertion_ids`` per AWS account (one grouped
    query plus two): the control detail's "By AWS account" table."""
    from pixaudit.evidence.models import LatestResult

    if not assertion_ids:
        return []
    qs = LatestResult.objects.filter(
        assertion_id__in=sorted(assertion_ids), connection__aws_integration_link__isnull=False
    )
    if connections is not None:
        qs = qs.filter(connection_id__in=sorted(connections))
    rows = qs.values_list("connection_id", "status").annotate(n=Count("id")).order_by()
    return account_breakdown(rows)


@dataclass
class AccountControls:
    """Controls of a framework judged on one AWS account's results only (overview table)."""

    account_id: str
    account_name: str
    ou_path: str
    statuses: dict[str, int] = field(default_factory=dict)  # control status -> controls

    @property
    def failing(self) -> int:
        return self.statuses.get("failing", 0)

    @property
    def error(self) -> int:
        return self.statuses.get("error", 0)

    @property
    def warning(self) -> int:
        return self.statuses.get("warning", 0)

    @property
    def passing(self) -> int:
        return self.statuses.get("passing", 0) + self.statuses.get("risk_accepted", 0)


def account_control_summary(
    posture, *, connections: Collection[int] | None = None
) -> list[AccountControls]:
    """Per AWS account, how many of ``posture``'s controls fail, pass or are in error when
    judged on that account's current results alone (four queries, whatever the number of
    findings or accounts: one grouped read of current state, the accepted risks per
    connection, and :func:`connection_places`).

    Each control is judged with the posture rule (:func:`pixaudit.posture.selectors.status_for`,
    risk acceptances and manual evidence included) over the results of its checks in that
    account, as the overview filtered to that account judges it; a control
    with no result in the account is not counted for it, nor is a control decided not
    applicable. Freshness is not judged here (the overview's own status says it).
    ``connections`` (a scope's connections) limits the accounts and results read.
    Accounts with failing controls first, then by OU path and id."""
    from pixaudit.evidence.models import LatestResult
    from pixaudit.posture.selectors import AssertionState, status_for

    items = [c for c in posture.controls if c.assertion_ids]
    assertion_ids = sorted({a for c in items for a in c.assertion_ids})
    if not assertion_ids:
        return []
    qs = LatestResult.objects.filter(
        assertion_id__in=assertion_ids, connection__aws_integration_link__isnull=False
    )
    if connections is not None:
        qs = qs.filter(connection_id__in=sorted(connections))
    rows = list(
        qs.values_list("connection_id", "assertion_id", "status").annotate(n=Count("id")).order_by()
    )
    places = connection_places(c for c, _, _, _ in rows)
    if not places:
        return []
    accepted = accepted_failures(
        assertion_ids=assertion_ids, at=posture.computed_at, connections=sorted(places),
        by_connection=True,
    )  # fmt: skip
    # account -> assertion -> its counts in that account
    states: dict[str, dict[str, AssertionState]] = {}
    accounts: dict[str, AccountControls] = {}
    seen_accepted: set[tuple[str, int]] = set()
    for connection_id, assertion_id, status, n in rows:
        place = places.get(connection_id)
        if place is None:
            continue
        accounts.setdefault(
            place.account_id, AccountControls(place.account_id, place.account_name, place.ou_path)
        )
        own = states.setdefault(place.account_id, {})
        state = own.setdefault(assertion_id, AssertionState(assertion_id))
        state.counts[status] = state.counts.get(status, 0) + n
        if (assertion_id, connection_id) not in seen_accepted:
            seen_accepted.add((assertion_id, connection_id))
            state.accepted += accepted.get((assertion_id, connection_id), 0)
    for account_id, entry in accounts.items():
        own = states[account_id]
        for item in items:
            found = [own[a] for a in item.assertion_ids if a in own]
            if not found or (item.decision is not None and not item.decision.applicable):
                continue
            status, _ = status_for(
                decision=item.decision, states=found, now=posture.computed_at, manual=item.manual
            )
            entry.statuses[status] = entry.statuses.get(status, 0) + 1
    return sorted(
        accounts.values(), key=lambda a: (-(a.failing + a.error), a.ou_path, a.account_id)
    )
