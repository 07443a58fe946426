"""AWS Organizations: list the member accounts, choose which to collect, name their role.

Used by the AWS integration's organisation mode (``pixaudit.awsorg``): with credentials of
the management (or delegated administrator) account, :func:`list_accounts` pages through
``organizations:ListAccounts``, and, when asked, walks the OU tree (``ListRoots``,
``ListOrganizationalUnitsForParent``, ``ListAccountsForParent``: a few calls per OU, never
one per account) and reads account tags (``ListTagsForResource``, one call per account,
only when a tag filter needs them). :func:`select_accounts` applies include/exclude rules
by account id, OU (an account belongs to every OU above it) and tag, and sets suspended or
closed accounts aside so that a run can say it skipped them. No Django here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors import CollectorError
from collectors.aws._common import botocore_errors, paginate, to_collector_error

__all__ = [
    "ORG_PERMISSIONS",
    "Account",
    "AccountFilter",
    "Selection",
    "list_accounts",
    "member_role_arn",
    "require_ok",
    "select_accounts",
]

#: What organisation mode needs in the management account, beyond the collectors' own.
ORG_PERMISSIONS: tuple[str, ...] = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListRoots",
    "organizations:ListTagsForResource",
    "sts:AssumeRole",
)

_ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Account:
    """One member account as Organizations describes it.

    ``ous`` are the ids of the OUs above the account, nearest first (empty when the tree was
    not read or the account sits under the root), ``ou_names`` their names in the same
    order; ``tags`` only when they were read.
    """

    id: str
    name: str = ""
    email: str = ""
    status: str = _ACTIVE
    ous: tuple[str, ...] = ()
    ou_names: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """False for suspended, closed or pending-closure accounts (nothing to collect)."""
        return self.status == _ACTIVE

    @property
    def ou(self) -> str:
        """The id of the OU the account sits in (``""`` under the root or when unknown)."""
        return self.ous[0] if self.ous else ""

    @property
    def ou_path(self) -> str:
        """The OU path by name from the root, ``Root/prod/web`` (``""``: tree not read)."""
        return "/".join(reversed(self.ou_names))


@dataclass(frozen=True)
class AccountFilter:
    """Which accounts a run collects. Empty include lists mean "all"; exclusions win.

    ``include_tags``/``exclude_tags`` map a tag key to a value (``"*"``: any value).
    """

    include_ids: frozenset[str] = frozenset()
    exclude_ids: frozenset[str] = frozenset()
    include_ous: frozenset[str] = frozenset()
    exclude_ous: frozenset[str] = frozenset()
    include_tags: Mapping[str, str] = field(default_factory=dict)
    exclude_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def needs_ous(self) -> bool:
        return bool(self.include_ous or self.exclude_ous)

    @property
    def needs_tags(self) -> bool:
        return bool(self.include_tags or self.exclude_tags)


@dataclass
class Selection:
    """The outcome of :func:`select_accounts`: what to collect and what was set aside why."""

    included: list[Account] = field(default_factory=list)
    suspended: list[Account] = field(default_factory=list)
    excluded: list[tuple[Account, str]] = field(default_factory=list)


def member_role_arn(account_id: str, role_name: str, partition: str = "aws") -> str:
    """``arn:<partition>:iam::<account>:role/<role_name>`` (a path in the name is kept)."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name.strip('/')}"


def list_accounts(client: Any, *, with_ous: bool = False, with_tags: bool = False) -> list[Account]:
    """Every account of the organisation, sorted by id (``client``: an organizations client).

    A failure is a :class:`CollectorError` naming the action (permanent when access was
    denied): without the list there is nothing to fan out. ``with_ous`` walks the OU tree;
    ``with_tags`` reads each active account's tags.
    """
    errors = botocore_errors()
    try:
        found = paginate(client, "list_accounts", "Accounts")
    except errors as exc:
        raise to_collector_error(exc, "organizations:ListAccounts") from None
    ous: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    if with_ous:
        ous = _ou_paths(client)
    accounts = []
    for raw in found:
        account_id = str(raw["Id"])
        status = str(raw.get("State") or raw.get("Status") or _ACTIVE).upper()
        tags: dict[str, str] = {}
        if with_tags and status == _ACTIVE:
            try:
                pages = paginate(client, "list_tags_for_resource", "Tags", ResourceId=account_id)
            except errors as exc:
                raise to_collector_error(
                    exc, "organizations:ListTagsForResource", f"for account {account_id}"
                ) from None
            tags = {str(t["Key"]): str(t.get("Value", "")) for t in pages}
        accounts.append(
            Account(
                id=account_id,
                name=str(raw.get("Name") or ""),
                email=str(raw.get("Email") or ""),
                status=status,
                ous=ous.get(account_id, ((), ()))[0],
                ou_names=ous.get(account_id, ((), ()))[1],
                tags=dict(sorted(tags.items())),
            )
        )
    return sorted(accounts, key=lambda a: a.id)


def _ou_paths(client: Any) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """account id -> (OU ids above it, their names), nearest first, the root's name last
    (breadth-first over the tree)."""
    errors = botocore_errors()
    paths: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    action = "organizations:ListRoots"
    try:
        roots = paginate(client, "list_roots", "Roots")
        pending: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
            (r["Id"], (), (str(r.get("Name") or "Root"),)) for r in roots
        ]
        while pending:
            parent, above, names = pending.pop(0)
            action = "organizations:ListAccountsForParent"
            for acc in paginate(client, "list_accounts_for_parent", "Accounts", ParentId=parent):
                paths[str(acc["Id"])] = (above, names)
            action = "organizations:ListOrganizationalUnitsForParent"
            children = paginate(
                client, "list_organizational_units_for_parent", "OrganizationalUnits",
                ParentId=parent,
            )  # fmt: skip
            pending.extend(
                (ou["Id"], (ou["Id"], *above), (str(ou.get("Name") or ou["Id"]), *names))
                for ou in children
            )
    except errors as exc:
        raise to_collector_error(exc, action, "(needed for the OU filters)") from None
    return paths


def _tag_match(tags: Mapping[str, str], rules: Mapping[str, str]) -> str:
    for key, value in sorted(rules.items()):
        if key in tags and (value in ("*", "") or tags[key] == value):
            return f"{key}={tags[key]}"
    return ""


def select_accounts(accounts: Iterable[Account], rules: AccountFilter) -> Selection:
    """Split ``accounts`` into included, suspended (not active) and excluded (with why).

    An account is excluded by its id, by any OU above it or by a tag in the exclude rules;
    when include rules are given it must match one of them (id, OU or tag). Suspended
    accounts are set aside before any rule, so a run always reports them.
    """
    selection = Selection()
    includes = bool(rules.include_ids or rules.include_ous or rules.include_tags)
    for account in accounts:
        if not account.active:
            selection.suspended.append(account)
            continue
        blocked_ou = next((ou for ou in account.ous if ou in rules.exclude_ous), "")
        blocked_tag = _tag_match(account.tags, rules.exclude_tags)
        if account.id in rules.exclude_ids:
            selection.excluded.append((account, "excluded by id"))
        elif blocked_ou:
            selection.excluded.append((account, f"excluded OU {blocked_ou}"))
        elif blocked_tag:
            selection.excluded.append((account, f"excluded tag {blocked_tag}"))
        elif includes and not (
            account.id in rules.include_ids
            or any(ou in rules.include_ous for ou in account.ous)
            or _tag_match(account.tags, rules.include_tags)
        ):
            selection.excluded.append((account, "not in the included accounts, OUs or tags"))
        else:
            selection.included.append(account)
    return selection


def require_ok(selection: Selection) -> Selection:
    """Raise a permanent :class:`CollectorError` when no account is left to collect."""
    if not selection.included:
        raise CollectorError(
            "no active account matches the integration's account rules", permanent=True
        )
    return selection
