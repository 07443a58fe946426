"""The leaver and orphan test: people from the HR system against every identity population.

Pure logic (no database): the service (:mod:`pixaudit.people.services`) gathers the inputs
from evidence and the manager's mapping table, and appends what :func:`evaluate` returns as
evidence. Rules, as of the run's instant ``as_of``:

- **Matching** an account to a person: the mapping table first (an account declared a
  person's, or a service account with an owner), else its e-mail, or its e-mail or login
  through an alias, equal to a person's work e-mail. When several HR records share an
  address (a rehire under a new employee id), the current one wins, then the latest start.
- **A leaver** is a person whose termination date is on or before ``as_of`` and not before
  their start date (a start after the termination is a rehire: a current employee). Their
  accounts must be disabled or removed within ``leaver_days`` days: the deadline is the end
  of the termination day plus ``leaver_days``. Each system is judged on its first
  evidence collected at or after the deadline (so an account removed late still fails);
  before the deadline on its latest evidence (WARN while the account is active). With no
  evidence since the deadline, an account still active in the latest is an ERROR (nobody
  looked in time), an account gone or disabled a PASS.
- **Ownership**: every active account belongs to a current (or future) employee, or is a
  declared service account whose owner is a current employee. Accounts of leavers are
  judged by the leaver check only.
- **Joiners**: an account whose source records its creation must not predate its person's
  start date by more than ``joiner_grace_days`` (accounts from a rehired person's earlier
  employment are not judged). Sources without a creation time are not judged.

Every finding names the HR evidence and the system evidence it came from, with their
collection times, so an auditor can re-perform it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from collectors.base import Finding, Severity, Status

__all__ = [
    "ASSERTIONS",
    "CONTROLS",
    "INACTIVE_STATUSES",
    "LIFECYCLE_KEY",
    "Account",
    "Declaration",
    "EvidenceRef",
    "Person",
    "Result",
    "evaluate",
]

LIFECYCLE_KEY = "identity_lifecycle"
LEAVERS = f"{LIFECYCLE_KEY}.leavers_disabled"
OWNED = f"{LIFECYCLE_KEY}.accounts_owned"
JOINERS = f"{LIFECYCLE_KEY}.joiners_after_start"
ASSERTIONS = (LEAVERS, OWNED, JOINERS)
CONTROLS: dict[str, tuple[str, ...]] = {
    LEAVERS: ("soc2-2017:CC6.2", "soc2-2017:CC6.3", "iso27001-2022:A.5.18",
              "iso27001-2022:A.6.5"),
    OWNED: ("soc2-2017:CC6.2", "iso27001-2022:A.5.16", "iso27001-2022:A.5.18"),
    JOINERS: ("soc2-2017:CC6.2", "iso27001-2022:A.5.16"),
}  # fmt: skip
SEVERITY = {LEAVERS: Severity.HIGH, OWNED: Severity.MEDIUM, JOINERS: Severity.MEDIUM}
#: Account statuses that mean the account cannot be used (any other status is active).
INACTIVE_STATUSES = frozenset({
    "suspended", "deprovisioned", "disabled", "inactive", "deleted", "deactivated",
    "locked", "archived", "nologin", "expired", "terminated",
})  # fmt: skip


@dataclass(frozen=True)
class EvidenceRef:
    """An evidence item an input came from."""

    seq: int
    sha256: str
    collector_key: str
    connection: str
    collected_at: datetime

    def label(self) -> str:
        """``evidence #12 (okta_users, Okta, collected 2024-06-01 08:00 UTC)``."""
        when = self.collected_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        return (
            f"evidence #{self.seq} ({self.collector_key}, {self.connection}, collected {when} UTC)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for the evidence document)."""
        return {**asdict(self), "collected_at": self.collected_at.astimezone(UTC).isoformat()}


@dataclass(frozen=True)
class Account:
    """One account of one system, as one evidence item shows it."""

    resource: str
    display_name: str
    email: str | None
    status: str | None
    is_privileged: bool | None
    created_at: datetime | None
    system: str
    evidence: EvidenceRef
    #: The account's id at its source (``account_id``; access reviews key on it).
    account_id: str = ""

    @property
    def active(self) -> bool:
        """True unless the status says the account cannot be used."""
        return (self.status or "active").lower() not in INACTIVE_STATUSES


@dataclass(frozen=True)
class Person:
    """One HR record."""

    resource: str
    employee_id: str
    name: str
    email: str | None
    start: date | None
    end: date | None
    evidence: EvidenceRef

    def left(self, day: date) -> bool:
        """Terminated on or before ``day`` (a start after the termination is a rehire)."""
        return self.end is not None and self.end <= day and (self.start is None
                                                             or self.start <= self.end)  # fmt: skip

    @property
    def rehired(self) -> bool:
        """Started again after an earlier termination."""
        return self.end is not None and self.start is not None and self.start > self.end


@dataclass(frozen=True)
class Declaration:
    """A row of the mapping table: the account is ``employee_id``'s, or a service account
    owned by ``employee_id`` (``None``: no owner)."""

    resource: str
    kind: str  # "person" or "service"
    employee_id: str | None
    note: str = ""


@dataclass
class Result:
    """What :func:`evaluate` found."""

    findings: list[Finding] = field(default_factory=list)
    #: Per finding (same order): the evidence items it came from.
    sources: list[list[dict[str, Any]]] = field(default_factory=list)
    #: One row per (account, person) link: the population an auditor samples.
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: ``{resource: "person" | "service" | "unmatched" | "leaver"}``.
    matched: dict[str, str] = field(default_factory=dict)
    #: Indexes of the findings that only close an earlier verdict (see ``previous``).
    resolved: list[int] = field(default_factory=list)
    #: The thresholds in force, recorded on every finding.
    thresholds: dict[str, Any] = field(default_factory=dict)

    def add(self, assertion: str, resource: str, status: Status, message: str,
            refs: Iterable[EvidenceRef]) -> None:  # fmt: skip
        unique = {r.seq: r for r in refs}
        labels = "; ".join(unique[s].label() for s in sorted(unique))
        self.findings.append(Finding(
            assertion_id=assertion, resource=resource, status=status,
            severity=SEVERITY[assertion], message=f"{message} [from {labels}]",
            thresholds=dict(self.thresholds), controls=CONTROLS[assertion],
        ))  # fmt: skip
        self.sources.append([unique[s].to_dict() for s in sorted(unique)])


#: ``snapshot(system, instant)`` -> the first evidence of ``system`` collected at or after
#: ``instant`` and its accounts, or ``None`` when there is none.
Snapshot = Callable[[str, datetime], tuple[EvidenceRef, list[Account]] | None]


def _deadline(end: date, days: int) -> datetime:
    return datetime.combine(end + timedelta(days=days + 1), time.min, tzinfo=UTC)


class _Matcher:
    def __init__(self, people: list[Person], declarations: dict[str, Declaration],
                 aliases: dict[str, str], today: date) -> None:  # fmt: skip
        self.by_id = {p.employee_id: p for p in people}
        self.declarations = declarations
        self.today = today
        self.by_email: dict[str, list[Person]] = {}
        for person in people:
            if person.email:
                self.by_email.setdefault(person.email.lower(), []).append(person)
        for alias, employee in aliases.items():
            if employee in self.by_id:
                self.by_email.setdefault(alias.lower(), []).append(self.by_id[employee])

    def person(self, account: Account) -> tuple[str, Person | None, str]:
        """``(kind, person or owner, how)``; kind is person, service or unmatched."""
        declared = self.declarations.get(account.resource)
        if declared is not None:
            found = self.by_id.get(declared.employee_id or "")
            how = "mapping table"
            if declared.kind == "service":
                return "service", found, how
            return ("person", found, how) if found else ("unmatched", None, how)
        candidates: list[Person] = []
        for key in (account.email, account.display_name):
            if key:
                candidates += self.by_email.get(key.lower(), [])
        if not candidates:
            return "unmatched", None, ""
        best = max(candidates, key=lambda p: (not p.left(self.today), p.start or date.min))
        return "person", best, "e-mail or alias"


def evaluate(
    *,
    people: list[Person],
    accounts: list[Account],
    declarations: dict[str, Declaration],
    aliases: dict[str, str],
    snapshot: Snapshot,
    as_of: datetime,
    leaver_days: int = 1,
    joiner_grace_days: int = 0,
    previous: dict[str, Iterable[str]] | None = None,
) -> Result:
    """Run the three checks; see the module docstring.

    ``previous`` (``{assertion id: resources}``) are what the last run judged: a resource
    this run no longer judges (the account is gone, disabled, or no longer a leaver's) gets
    a PASS saying so, so that an earlier verdict does not stay current for ever.
    """
    today = as_of.astimezone(UTC).date()
    matcher = _Matcher(people, declarations, aliases, today)
    result = Result(thresholds={"leaver_days": leaver_days, "joiner_grace_days": joiner_grace_days})
    systems = sorted({a.system for a in accounts})
    for account in sorted(accounts, key=lambda a: (a.system, a.resource)):
        kind, person, how = matcher.person(account)
        if kind == "person" and person is not None and person.left(today):
            kind = "leaver"
        result.matched[account.resource] = kind
        result.rows.append(_row(account, kind, person, how))
        if not account.active or kind == "leaver":
            continue
        _owned(result, account, kind, person, how, today)
        if kind == "person" and person is not None:
            _joiner(result, account, person, joiner_grace_days)
    for person in sorted(people, key=lambda p: p.employee_id):
        if person.left(today):
            for system in systems:
                _leaver(result, matcher, person, system, snapshot, accounts, as_of, leaver_days)
    _resolve(result, previous or {}, accounts)
    return result


def _resolve(result: Result, previous: dict[str, Iterable[str]], accounts: list[Account]) -> None:
    judged = {(f.assertion_id, f.resource) for f in result.findings}
    by_resource = {a.resource: a for a in accounts}
    latest = {a.system: a.evidence for a in accounts}
    for assertion in ASSERTIONS:
        for resource in sorted(set(previous.get(assertion, ()))):
            if (assertion, resource) in judged:
                continue
            account = by_resource.get(resource)
            if account is None:
                message = f"{resource} is no longer in the latest evidence of any system."
                refs = list(latest.values())
            elif not account.active:
                message = f"{account.display_name} ({account.system}) is now {account.status}."
                refs = [account.evidence]
            else:
                message = (f"{account.display_name} ({account.system}) is no longer judged by "
                           "this check (its owner or mapping changed).")  # fmt: skip
                refs = [account.evidence]
            result.add(assertion, resource, Status.PASS, message, refs)
            result.resolved.append(len(result.findings) - 1)


def _row(account: Account, kind: str, person: Person | None, how: str) -> dict[str, Any]:
    return {
        "system": account.system,
        "account": account.resource,
        "account_id": account.account_id or account.resource,
        "account_name": account.display_name,
        "account_status": account.status,
        "account_evidence": account.evidence.seq,
        "link": kind,
        "matched_by": how or None,
        "employee_id": person.employee_id if person else None,
        "person": person.name if person else None,
        "termination_date": person.end.isoformat() if person and person.end else None,
        "hr_evidence": person.evidence.seq if person else None,
    }


def _owned(result: Result, account: Account, kind: str, person: Person | None, how: str,
           today: date) -> None:  # fmt: skip
    name = f"{account.display_name} ({account.system})"
    refs = [account.evidence] + ([person.evidence] if person else [])
    if kind == "person" and person is not None:
        result.add(OWNED, account.resource, Status.PASS,
                   f"{name} belongs to {person.name} ({person.employee_id}), matched by {how}.",
                   refs)  # fmt: skip
    elif kind == "service" and person is None:
        result.add(OWNED, account.resource, Status.FAIL,
                   f"{name} is a declared service account without an owner in the HR system.",
                   refs)  # fmt: skip
    elif kind == "service" and person is not None and person.left(today):
        result.add(OWNED, account.resource, Status.FAIL,
                   f"{name} is a service account whose owner {person.name} "
                   f"({person.employee_id}) left on {person.end}.", refs)  # fmt: skip
    elif kind == "service" and person is not None:
        result.add(OWNED, account.resource, Status.PASS,
                   f"{name} is a service account owned by {person.name} "
                   f"({person.employee_id}).", refs)  # fmt: skip
    else:
        result.add(OWNED, account.resource, Status.FAIL,
                   f"{name} is active and belongs to nobody: no HR person matches it and it "
                   "is not a declared service account.", refs)  # fmt: skip


def _joiner(result: Result, account: Account, person: Person, grace: int) -> None:
    if account.created_at is None or person.start is None:
        return
    created = account.created_at.astimezone(UTC).date()
    if person.rehired and person.end is not None and created <= person.end:
        return  # from the earlier employment
    name = f"{account.display_name} ({account.system})"
    refs = [account.evidence, person.evidence]
    earliest = person.start - timedelta(days=grace)
    if created < earliest:
        result.add(JOINERS, account.resource, Status.FAIL,
                   f"{name} was created on {created}, before {person.name} started on "
                   f"{person.start} (grace {grace} days).", refs)  # fmt: skip
    else:
        result.add(JOINERS, account.resource, Status.PASS,
                   f"{name} was created on {created}; {person.name} started on "
                   f"{person.start}.", refs)  # fmt: skip


def _leaver(result: Result, matcher: _Matcher, person: Person, system: str,
            snapshot: Snapshot, latest: list[Account], as_of: datetime,
            days: int) -> None:  # fmt: skip
    assert person.end is not None
    deadline = _deadline(person.end, days)
    judged: tuple[EvidenceRef, list[Account]] | None = None
    if deadline <= as_of:
        judged = snapshot(system, deadline)
    late = judged is not None
    if judged is None:
        current = [a for a in latest if a.system == system]
        if not current:
            return
        judged = (current[0].evidence, current)
    ref, accounts = judged
    who = f"{person.name} ({person.employee_id}, terminated {person.end})"
    for account in accounts:
        kind, owner, _how = matcher.person(account)
        if kind != "person" or owner is None or owner.employee_id != person.employee_id:
            continue
        name = f"{account.display_name} ({system})"
        refs = [ref, person.evidence]
        seen = ref.collected_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        if not account.active:
            message = f"{name} of leaver {who} was {account.status} on {seen} UTC."
            result.add(LEAVERS, account.resource, Status.PASS, message, refs)
        elif late:
            elapsed = (ref.collected_at - datetime.combine(person.end, time.min, tzinfo=UTC)).days
            result.add(LEAVERS, account.resource, Status.FAIL,
                       f"{name} of leaver {who} was still active on {seen} UTC, {elapsed} days "
                       f"after the termination date (limit {days}).", refs)  # fmt: skip
        elif deadline > as_of:
            result.add(LEAVERS, account.resource, Status.WARN,
                       f"{name} of leaver {who} is still active; it must be disabled by "
                       f"{deadline:%Y-%m-%d %H:%M} UTC.", refs)  # fmt: skip
        else:
            result.add(LEAVERS, account.resource, Status.ERROR,
                       f"{name} of leaver {who} was active on {seen} UTC and {system} has not "
                       f"been collected since the deadline {deadline:%Y-%m-%d %H:%M} UTC.",
                       refs)  # fmt: skip
