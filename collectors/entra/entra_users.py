"""Microsoft Entra ID users: MFA registration, directory roles, guests, sign-in activity."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.entra._graph import GRAPH_PARAMS, Graph
from collectors.identity import IDENTITY_COLUMNS
from collectors.schema import format_datetime

_KEY = "entra_users"
_USER_FIELDS = (
    "id,displayName,userPrincipalName,mail,accountEnabled,userType,createdDateTime,"
    "externalUserState,externalUserStateChangeDateTime"
)
_ADMIN_CA = f"{_KEY}.admins_covered_by_mfa_policy"
_INACTIVE = f"{_KEY}.inactive_accounts"
_GUESTS = f"{_KEY}.guests_reviewed"
_MFA = f"{_KEY}.mfa_registered"
_USER_TYPE = "#microsoft.graph.user"


@register
class EntraUsersCollector(Collector):
    """Microsoft Entra ID users, MFA registration, directory roles, guests and sign-ins.

    App-only access with the client credentials grant (application permissions
    ``User.Read.All``, ``AuditLog.Read.All``, ``RoleManagement.Read.Directory``,
    ``Policy.Read.All``). Calls (Microsoft Graph v1.0, every list followed through
    ``@odata.nextLink``): ``GET /users`` with ``signInActivity`` (needs Entra ID P1; without
    it the users are read without sign-ins and the sign-in checks say ERROR),
    ``GET /reports/authenticationMethods/userRegistrationDetails``, ``GET /directoryRoles``
    and each role's ``/members``, ``GET /identity/conditionalAccess/policies``, and for
    administrators covered through a group ``GET /users/{id}/transitiveMemberOf``.
    Throttling (429/503 with ``Retry-After``) is retried within the time budget.

    A conditional access policy counts as requiring MFA for an administrator when it is
    ``enabled`` (report-only does not count), applies to all cloud apps with none excluded
    and to all client app types, grants access only with MFA (``mfa`` under the ``AND``
    operator, or as the only ``OR`` control, or an authentication strength), and includes
    the user (all users, the user, one of their directory roles or groups) without excluding
    them. ``mfa_policies`` lists the policies that do, for administrators.

    Findings name users ``entra:<tenant>/user:<object id>``; the user principal name is the
    ``display_name`` and in every message.

    Example row: ``bob@acme.example`` (Member), enabled, Global Administrator, MFA not
    registered, last sign-in 2024-01-10, no enabled policy requiring MFA covers him: fails
    ``entra_users.mfa_registered``, ``.admins_covered_by_mfa_policy`` and ``.inactive_accounts``.
    """

    key = _KEY
    title = "Microsoft Entra ID users, MFA, roles, guests and sign-ins"
    version = 1
    params = GRAPH_PARAMS
    permissions = (
        "User.Read.All",
        "AuditLog.Read.All",
        "RoleManagement.Read.Directory",
        "Policy.Read.All",
    )
    columns = (
        *IDENTITY_COLUMNS,
        Column("user_principal_name", "string", "User principal name (sign-in name)."),
        Column("user_type", "string", "Member or Guest."),
        Column("account_enabled", "boolean", "The account can sign in."),
        Column("external_user_state", "string", "Guests: PendingAcceptance or Accepted."),
        Column("created_at", "datetime", "When the account was created."),
        Column("mfa_registered", "boolean", "A strong MFA method is registered (null: unread)."),
        Column("mfa_methods", "json", "Registered authentication methods (null: unread)."),
        Column("directory_roles", "json", "Names of the directory roles held (sorted)."),
        Column("sign_in_read", "boolean", "Sign-in activity was readable for this tenant."),
        Column("idle_days", "integer", "Days since last sign-in (or creation if never)."),
        Column("mfa_policies", "json", "Admins: enabled policies requiring MFA that cover them."),
    )
    resource_column = "account_id"
    max_age = timedelta(days=1)
    identity_population = True

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per user, sorted by user principal name."""
        graph = Graph(ctx)
        graph.authenticate()
        ctx.identity = f"entra:app {ctx.params['client_id']}@{graph.tenant}"
        users, sign_in_read = self._users(ctx, graph)
        registration = self._registration(ctx, graph)
        roles = self._roles(ctx, graph)
        policies = ctx.attempt(
            lambda: list(graph.items("conditionalAccess.policies.list",
                                     "identity/conditionalAccess/policies")),
            action="graph:conditionalAccess.policies.list",
            message="cannot read conditional access policies",
            assertions=(_ADMIN_CA,),
        )  # fmt: skip
        rows = []
        for user in users:
            ctx.check_budget()
            user_id = str(user["id"])
            held = roles.get(user_id, [])
            reg = registration.get(user_id) if registration is not None else None
            row = _row(ctx, graph.tenant, user, held, reg, sign_in_read)
            if held and policies is not None:
                row["mfa_policies"] = _covering(ctx, graph, row, user_id, held, policies)
            rows.append(row)
        ctx.progress(len(rows), len(rows), "users")
        return sorted(rows, key=lambda r: (r["display_name"].lower(), r["account_id"]))

    @staticmethod
    def _users(ctx: CollectionContext, graph: Graph) -> tuple[list[dict[str, Any]], bool]:
        try:
            users = list(graph.items("users.list", "users",
                                     **{"$select": _USER_FIELDS + ",signInActivity",
                                        "$top": "999"}))  # fmt: skip
            return users, True
        except CollectorError as exc:
            if not exc.permanent:
                raise
            ctx.logger.warning("users without sign-in activity (%s)", exc.message)
            ctx.error(
                f"sign-in activity not readable (Entra ID P1 and AuditLog.Read.All needed): "
                f"{exc.message}",
                action="graph:users.list",
                assertions=(_INACTIVE, _GUESTS),
            )
        users = list(graph.items("users.list", "users",
                                 **{"$select": _USER_FIELDS, "$top": "999"}))  # fmt: skip
        return users, False

    @staticmethod
    def _registration(ctx: CollectionContext, graph: Graph) -> dict[str, dict[str, Any]] | None:
        details = ctx.attempt(
            lambda: list(graph.items("userRegistrationDetails.list",
                                     "reports/authenticationMethods/userRegistrationDetails")),
            action="graph:userRegistrationDetails.list",
            message="cannot read MFA registration details",
            assertions=(_MFA,),
        )  # fmt: skip
        return None if details is None else {str(d.get("id")): d for d in details}

    @staticmethod
    def _roles(ctx: CollectionContext, graph: Graph) -> dict[str, list[dict[str, str]]]:
        """``{user id: [{name, template}]}`` of activated directory roles."""
        held: dict[str, list[dict[str, str]]] = {}
        roles = graph.items("directoryRoles.list", "directoryRoles",
                            **{"$select": "id,displayName,roleTemplateId"})  # fmt: skip
        for role in list(roles):
            name = str(role.get("displayName"))
            members = ctx.attempt(
                lambda role=role: list(graph.items("directoryRoles.members.list",
                                                   f"directoryRoles/{role['id']}/members",
                                                   **{"$select": "id"})),
                action="graph:directoryRoles.members.list",
                message=f"cannot read the members of the directory role {name}; "
                "administrators holding it may be missing",
                assertions=(_ADMIN_CA,),
            )  # fmt: skip
            for member in members or []:
                if member.get("@odata.type", _USER_TYPE) != _USER_TYPE:  # groups, apps
                    continue
                held.setdefault(str(member["id"]), []).append(
                    {"name": name, "template": str(role.get("roleTemplateId"))}
                )
        return held

    @assertion(
        _MFA,
        title="Every enabled Entra ID member has MFA registered",
        severity=Severity.HIGH,
        remediation="Require MFA registration (registration campaign or a conditional access "
        "policy for security info registration) and follow up with users who have not.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.5", "iso27001-2022:A.5.17"),
        rationale="A registered strong method is what lets MFA be required at sign-in "
        "(CC6.1, A.8.5) so a password alone is not enough (A.5.17).",
    )
    def mfa_registered(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Enabled members only (guests authenticate at their home tenant)."""
        if not row["account_enabled"] or row["user_type"] != "Member":
            return None
        name = row["display_name"]
        if row["mfa_registered"] is None:
            return Outcome(Status.ERROR, f"MFA registration of {name} was not returned.")
        if row["mfa_registered"]:
            methods = ", ".join(row["mfa_methods"] or []) or "a strong method"
            return Outcome(Status.PASS, f"{name} has MFA registered ({methods}).")
        return Outcome(Status.FAIL, f"{name} has no MFA method registered.")

    @assertion(
        _ADMIN_CA,
        title="Entra ID administrators are covered by a conditional access policy requiring MFA",
        severity=Severity.CRITICAL,
        remediation="Create (or enable) a conditional access policy for the directory roles "
        "of administrators, all cloud apps, all client apps, granting access only with MFA, "
        "and exclude only break-glass accounts that are monitored.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.2", "iso27001-2022:A.8.5"),
        rationale="MFA enforced by policy for privileged access (A.8.2) is the authentication "
        "CC6.1 and A.8.5 require; registration alone does not make MFA mandatory.",
    )
    def admins_covered(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Enabled holders of a directory role only."""
        if not row["account_enabled"] or not row["is_privileged"]:
            return None
        name, policies = row["display_name"], row["mfa_policies"]
        if policies is None:
            return Outcome(Status.ERROR, f"Policies covering {name} could not be determined.")
        if policies:
            return Outcome(Status.PASS, f"{name} is covered by {', '.join(policies)}.")
        roles = ", ".join(row["directory_roles"])
        return Outcome(Status.FAIL, f"{name} ({roles}) is not covered by any enabled policy "
                       "requiring MFA for all cloud apps.")  # fmt: skip

    @assertion(
        _GUESTS,
        title="Entra ID guest accounts are in use, or removed",
        severity=Severity.MEDIUM,
        remediation="Review guests regularly (an access review campaign from this "
        "population): remove guests who never accepted their invitation or no longer sign "
        "in, and keep a sponsor for the others.",
        controls=("soc2-2017:CC6.2", "iso27001-2022:A.5.18", "iso27001-2022:A.5.19"),
        rationale="External accounts that are unused or were never accepted are access nobody "
        "needs; removing them is credential removal (CC6.2), access rights review (A.5.18) and "
        "supplier access management (A.5.19).",
        params=(Param("max_days", "integer", default=90, help="Days a guest may stay unused."),),
    )
    def guests_reviewed(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Enabled guests only: pending or unused for longer than ``max_days`` fails."""
        if not row["account_enabled"] or row["user_type"] != "Guest":
            return None
        return _idle(row, params["max_days"], guest=True)

    @assertion(
        _INACTIVE,
        title="No enabled Entra ID member account is idle for too long",
        severity=Severity.MEDIUM,
        remediation="Disable or delete accounts that are no longer used, and review access "
        "when people change roles or leave.",
        controls=("soc2-2017:CC6.2", "iso27001-2022:A.5.18", "iso27001-2022:A.5.16"),
        rationale="Removing access that is no longer needed is credential removal (CC6.2), "
        "access rights review (A.5.18) and identity life-cycle management (A.5.16).",
        params=(Param("max_days", "integer", default=90, help="Maximum days without sign-in."),),
    )
    def inactive_accounts(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Enabled members only; a user who never signed in counts from creation."""
        if not row["account_enabled"] or row["user_type"] != "Member":
            return None
        return _idle(row, params["max_days"], guest=False)


def _idle(row: dict[str, Any], limit: int, *, guest: bool) -> Outcome:
    name = row["display_name"]
    if guest and row["external_user_state"] == "PendingAcceptance":
        age = row["idle_days"]
        if age is not None and age > limit:
            return Outcome(Status.FAIL, f"Guest {name} never accepted the invitation "
                           f"({age} days; limit {limit}).")  # fmt: skip
    if not row["sign_in_read"] or row["idle_days"] is None:
        return Outcome(Status.ERROR, f"Sign-in activity of {name} was not readable.")
    last = row["last_activity_at"]
    seen = f"last sign-in {last[:10]}" if last else "never signed in"
    idle = row["idle_days"]
    who = f"Guest {name}" if guest else name
    if idle > limit:
        return Outcome(Status.FAIL, f"{who} is idle for {idle} days ({seen}; limit {limit}).")
    return Outcome(Status.PASS, f"{who} is idle for {idle} days ({seen}).")


def _row(
    ctx: CollectionContext,
    tenant: str,
    user: dict[str, Any],
    roles: list[dict[str, str]],
    registration: dict[str, Any] | None,
    sign_in_read: bool,
) -> dict[str, Any]:
    upn = str(user.get("userPrincipalName") or user["id"])
    activity = user.get("signInActivity") or {}
    last = _latest(activity.get("lastSignInDateTime"),
                   activity.get("lastNonInteractiveSignInDateTime"))  # fmt: skip
    since = last or user.get("createdDateTime")
    idle = (ctx.now() - _parse(since)).days if since and sign_in_read else None
    if registration is None:  # unread, or the report has no entry for the user yet
        registered, methods = None, None
    else:
        registered = registration.get("isMfaRegistered")
        registered = registered if isinstance(registered, bool) else None
        methods = sorted(str(m) for m in registration.get("methodsRegistered") or [])
    names = sorted({r["name"] for r in roles})
    enabled = user.get("accountEnabled")
    return {
        "account_id": f"entra:{tenant}/user:{user['id']}",
        "display_name": upn,
        "email": str(user.get("mail") or upn).lower(),
        "privileges": names,
        "is_privileged": bool(names),
        "mfa_enabled": registered,
        "last_activity_at": last if sign_in_read else None,
        "status": "enabled" if enabled else "disabled",
        "source": f"entra:{tenant}",
        "user_principal_name": upn,
        "user_type": user.get("userType"),
        "account_enabled": bool(enabled),
        "external_user_state": user.get("externalUserState"),
        "created_at": user.get("createdDateTime"),
        "mfa_registered": registered,
        "mfa_methods": methods,
        "directory_roles": names,
        "sign_in_read": sign_in_read,
        "idle_days": idle,
        "mfa_policies": None,
    }


def _covering(
    ctx: CollectionContext,
    graph: Graph,
    row: dict[str, Any],
    user_id: str,
    roles: list[dict[str, str]],
    policies: list[dict[str, Any]],
) -> list[str] | None:
    """Names of the enabled policies requiring MFA that cover the user (None: unknown)."""
    templates = {r["template"] for r in roles}
    candidates = [p for p in policies if requires_mfa_everywhere(p)]
    groups: set[str] | None = set()
    if any(_users(p).get("includeGroups") or _users(p).get("excludeGroups") for p in candidates):
        found = ctx.attempt(
            lambda: [str(g.get("id")) for g in graph.items(
                "users.transitiveMemberOf.list", f"users/{user_id}/transitiveMemberOf",
                **{"$select": "id"})],
            resource=row["account_id"],
            action="graph:users.transitiveMemberOf.list",
            message=f"cannot read the groups of {row['display_name']}",
            assertions=(_ADMIN_CA,),
        )  # fmt: skip
        groups = None if found is None else set(found)
    if groups is None:
        return None
    return sorted(
        str(p.get("displayName") or p.get("id"))
        for p in candidates
        if _applies(_users(p), user_id, templates, groups)
    )


def requires_mfa_everywhere(policy: dict[str, Any]) -> bool:
    """An enabled policy for all cloud apps and client apps whose grant requires MFA."""
    if policy.get("state") != "enabled":
        return False
    conditions = policy.get("conditions") or {}
    apps = conditions.get("applications") or {}
    if "All" not in (apps.get("includeApplications") or []) or apps.get("excludeApplications"):
        return False
    client_types = set(conditions.get("clientAppTypes") or ["all"])
    if not ("all" in client_types or {"browser", "mobileAppsAndDesktopClients"} <= client_types):
        return False
    grant = policy.get("grantControls") or {}
    controls = [str(c) for c in grant.get("builtInControls") or []]
    if grant.get("authenticationStrength"):
        return grant.get("operator", "OR") == "AND" or not controls
    if "mfa" not in controls:
        return False
    return grant.get("operator") == "AND" or controls == ["mfa"]


def _users(policy: dict[str, Any]) -> dict[str, Any]:
    return (policy.get("conditions") or {}).get("users") or {}


def _applies(users: dict[str, Any], user_id: str, templates: set[str], groups: set[str]) -> bool:
    def hits(key: str, values: Iterable[str]) -> bool:
        return bool(set(users.get(key) or []) & set(values))

    included = (
        "All" in (users.get("includeUsers") or [])
        or hits("includeUsers", [user_id])
        or hits("includeRoles", templates)
        or hits("includeGroups", groups)
    )
    excluded = (
        hits("excludeUsers", [user_id])
        or hits("excludeRoles", templates)
        or hits("excludeGroups", groups)
    )
    return included and not excluded


def _latest(*values: Any) -> str | None:
    present = [format_datetime(v) for v in values if v]
    return max(present) if present else None


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(format_datetime(text).replace("Z", "+00:00"))
