"""GitHub organisation: the 2FA requirement and the people with access (an identity population)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.github._api import GITHUB_PARAMS, GitHubAPI
from collectors.identity import IDENTITY_COLUMNS

_MFA = ("soc2-2017:CC6.1", "iso27001-2022:A.8.5", "iso27001-2022:A.5.17")
_PEOPLE = ("member", "outside_collaborator")


@register
class GithubOrgCollector(Collector):
    """Members, owners and outside collaborators of a GitHub organisation, with their 2FA.

    Calls (GitHub REST, Link-paginated): ``GET /user`` (who the token is), ``GET
    /orgs/{org}`` (``two_factor_requirement_enabled``, visible to owners only), ``GET
    /orgs/{org}/members`` (all, ``role=admin`` for owners, ``filter=2fa_disabled``) and ``GET
    /orgs/{org}/outside_collaborators`` (all and ``filter=2fa_disabled``). The token must
    belong to an organisation owner: the 2FA data is hidden from everyone else, and then the
    2FA assertions are ERROR rather than guessed.

    Rows: one ``organization`` row (resource ``org:<login>``) holding the org settings, then
    one row per member or outside collaborator (resource ``org:<org>/user:<login>``: a person
    is named within the organisation, so the same person in two organisations is two
    resources) in the common identity shape. GitHub's REST API exposes neither e-mail nor
    last activity for members, so those columns are null. Access reviews should take the rows
    whose ``kind`` is not ``organization``.

    Example row: ``org:acme/user:bob``, kind ``member``, account id ``583231``, privileges
    ``["member"]``, not privileged, ``mfa_enabled`` false (listed by
    ``filter=2fa_disabled``): it fails ``github_org.members_without_2fa``.
    """

    key = "github_org"
    title = "GitHub organisation members and 2FA"
    version = 2
    params = GITHUB_PARAMS
    permissions = ("read:org", "admin:org")
    columns = (
        *IDENTITY_COLUMNS,
        Column("resource", "string", "org:<org>, or org:<org>/user:<login>."),
        Column("kind", "string", "organization, member or outside_collaborator."),
        Column("site_admin", "boolean", "GitHub (Enterprise Server) site administrator."),
        Column("two_factor_requirement_enabled", "boolean", "Org requires 2FA (org row)."),
        Column("default_repository_permission", "string", "Members' base permission (org row)."),
    )
    resource_column = "resource"
    max_age = timedelta(days=1)
    identity_population = True

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return the organisation row, then people sorted by login."""
        api = GitHubAPI(ctx)
        api.identify()
        org = api.json("orgs/get", "orgs", api.org)
        rows = [self._org_row(ctx, api, org)]
        owners = {m["login"] for m in api.items("orgs/list-members", "orgs", api.org, "members",
                                                 role="admin")}  # fmt: skip
        people: dict[str, dict[str, Any]] = {}
        for kind, path in (
            ("member", "members"),
            ("outside_collaborator", "outside_collaborators"),
        ):
            operation = f"orgs/list-{path.replace('_', '-')}"
            listed = list(api.items(operation, "orgs", api.org, path))
            no_2fa = self._without_2fa(ctx, api, operation, path)
            for person in listed:
                login = person["login"]
                mfa = None if no_2fa is None else login not in no_2fa
                people[login] = self._person_row(api, person, kind, login in owners, mfa)
        rows.extend(people[login] for login in sorted(people, key=str.lower))
        return rows

    @staticmethod
    def _org_row(ctx: CollectionContext, api: GitHubAPI, org: dict[str, Any]) -> dict[str, Any]:
        resource = f"org:{api.org}"
        required = org.get("two_factor_requirement_enabled")
        if required is None:
            ctx.error(
                "two_factor_requirement_enabled is not visible to this token (it needs an "
                "organisation owner's token with admin:org read)",
                action="github:orgs/get",
                resource=resource,
                assertions=("github_org.two_factor_required",),
            )
        return {
            "resource": resource,
            "kind": "organization",
            "display_name": org.get("login") or api.org,
            "source": f"github:{api.org}",
            "two_factor_requirement_enabled": required,
            "default_repository_permission": org.get("default_repository_permission"),
        }

    @staticmethod
    def _without_2fa(
        ctx: CollectionContext, api: GitHubAPI, operation: str, path: str
    ) -> set[str] | None:
        return ctx.attempt(
            lambda: {
                person["login"]
                for person in api.items(operation, "orgs", api.org, path, filter="2fa_disabled")
            },
            action=f"github:{operation}",
            assertions=("github_org.members_without_2fa",),
            message=f"cannot list {path.replace('_', ' ')} without 2FA",
        )

    @staticmethod
    def _person_row(
        api: GitHubAPI, person: dict[str, Any], kind: str, owner: bool, mfa: bool | None
    ) -> dict[str, Any]:
        role = "owner" if owner else ("member" if kind == "member" else "outside_collaborator")
        return {
            "account_id": str(person["id"]),
            "display_name": person["login"],
            "email": person.get("email"),
            "privileges": [role],
            "is_privileged": owner,
            "mfa_enabled": mfa,
            "last_activity_at": None,
            "status": "active",
            "source": f"github:{api.org}",
            "resource": f"org:{api.org}/user:{person['login']}",
            "kind": kind,
            "site_admin": bool(person.get("site_admin")),
        }

    @assertion(
        "github_org.two_factor_required",
        title="The GitHub organisation requires two-factor authentication",
        severity=Severity.HIGH,
        remediation="Organisation settings > Authentication security: tick 'Require two-factor "
        "authentication for everyone in the organization'.",
        controls=_MFA,
        rationale="Enforcing a second factor for source-code access is logical access security "
        "(CC6.1), secure authentication (A.8.5) and protection of authentication information "
        "(A.5.17).",
    )
    def two_factor_required(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Evaluated on the organisation row only."""
        if row["kind"] != "organization":
            return None
        if row["two_factor_requirement_enabled"] is None:
            return Outcome(Status.ERROR, "The 2FA requirement is not visible to the token.")
        if row["two_factor_requirement_enabled"]:
            return Outcome(Status.PASS, f"{row['display_name']} requires 2FA for everyone.")
        return Outcome(Status.FAIL, f"{row['display_name']} does not require 2FA.")

    @assertion(
        "github_org.members_without_2fa",
        title="Every member and outside collaborator has 2FA enabled",
        severity=Severity.HIGH,
        remediation="Ask the person to enable 2FA (or remove them), then require 2FA for the "
        "organisation so it cannot regress.",
        controls=_MFA,
        rationale="Each account with access to source code authenticates with a second factor "
        "(CC6.1, A.8.5, A.5.17).",
    )
    def members_without_2fa(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """One finding per person; unknown 2FA status is an ERROR for that person (and the
        reason is an ERROR on ``*``): nobody drops out of the population for being unread."""
        if row["kind"] not in _PEOPLE:
            return None
        who = f"{row['display_name']} ({row['kind'].replace('_', ' ')})"
        if row["mfa_enabled"] is None:
            return Outcome(Status.ERROR, f"The 2FA status of {who} could not be read.")
        if row["mfa_enabled"]:
            return Outcome(Status.PASS, f"{who} has 2FA enabled.")
        return Outcome(Status.FAIL, f"{who} does not have 2FA enabled.")
