"""Google Workspace users: suspension, 2-Step Verification, admin roles, last login."""

from __future__ import annotations

from collections.abc import Iterator
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
from collectors._http import check_response
from collectors.google._auth import load_service_account, service_account_token
from collectors.identity import IDENTITY_COLUMNS
from collectors.schema import format_datetime

SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.rolemanagement.readonly",
)
#: Google's "never signed in" marker for ``lastLoginTime``.
_NEVER = "1970-01-01T00:00:00.000Z"
_KEY = "google_workspace_users"
#: Reasons of a 403 that mean "slow down", not "forbidden" (Admin SDK error bodies).
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
_RATE_RETRIES = 5


@register
class GoogleWorkspaceUsersCollector(Collector):
    """Google Workspace users with suspension, 2-Step Verification, admin roles and last login.

    Authenticates as a service account with domain-wide delegation: a JWT signed locally with
    the account's private key (``google-auth``) is exchanged at the token endpoint for a token
    acting as ``subject`` (an administrator), with the read-only scopes
    ``admin.directory.user.readonly`` and ``admin.directory.rolemanagement.readonly``.
    Calls (Admin SDK Directory API): ``users.list`` (``customer``, ``projection=full``,
    ``nextPageToken`` pages of 500), ``roles.list`` and ``roleAssignments.list``. Throttling
    (429, or 403 ``rateLimitExceeded``/``userRateLimitExceeded``) is retried with
    ``Retry-After`` or backoff within the time budget. When the admin roles cannot be read,
    the run still succeeds: ``roles`` is null and ``privileges`` comes from the users'
    ``isAdmin``/``isDelegatedAdmin`` flags (a warning says so). A user whose 2-Step
    Verification state is missing from the answer gets an ERROR, never a verdict.

    Findings name users ``google-workspace:user:<id>`` (Google's immutable user id); the
    primary e-mail is the ``display_name`` and ``email`` columns and in every message.

    Example row: ``bob@acme.example``, active, 2SV enrolled but not enforced, delegated admin
    with the role ``Help Desk Admin``, last login 2024-01-10: fails
    ``google_workspace_users.two_step_enforced`` and ``.admins_two_step_enforced``.
    """

    key = _KEY
    title = "Google Workspace users, 2-Step Verification and admin roles"
    version = 1
    params = (
        Param(
            "service_account_key",
            "string",
            required=True,
            secret=True,
            help="The service account's JSON key (the whole file). Its client id needs "
            "domain-wide delegation of the two read-only scopes listed under permissions.",
        ),
        Param(
            "subject",
            "string",
            required=True,
            help="E-mail of the administrator the service account acts as (a read-only admin "
            "role with Users and Admin roles read suffices).",
        ),
        Param(
            "customer",
            "string",
            default="my_customer",
            help="Customer id (my_customer: the subject's own account).",
        ),
        Param(
            "token_uri",
            "string",
            default="https://oauth2.googleapis.com/token",
            help="OAuth 2.0 token endpoint the signed JWT is exchanged at.",
            destination=True,
        ),
        Param(
            "base_url",
            "string",
            default="https://admin.googleapis.com",
            help="Admin SDK root URL.",
            destination=True,
        ),
        Param(
            "ca_bundle",
            "string",
            help="PEM file of a private CA to trust (proxies, tests).",
            destination=True,
        ),
    )
    permissions = SCOPES
    columns = (
        *IDENTITY_COLUMNS,
        Column("suspended", "boolean", "Suspended by an administrator or Google."),
        Column("archived", "boolean", "Archived user (keeps data, cannot sign in)."),
        Column("is_super_admin", "boolean", "Holds the super admin role (isAdmin)."),
        Column("is_delegated_admin", "boolean", "Holds a delegated admin role."),
        Column("roles", "json", "Names of the admin roles assigned (null: not readable)."),
        Column("two_step_enrolled", "boolean", "2-Step Verification enrolled (null: unknown)."),
        Column("two_step_enforced", "boolean", "2-Step Verification enforced (null: unknown)."),
        Column("org_unit", "string", "Organisational unit path."),
        Column("aliases", "json", "Other e-mail addresses of the user (sorted)."),
        Column("created_at", "datetime", "When the account was created."),
        Column("idle_days", "integer", "Days since last login (or creation if never)."),
    )
    resource_column = "account_id"
    max_age = timedelta(days=1)
    identity_population = True

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per user, sorted by primary e-mail."""
        info = load_service_account(ctx, str(ctx.params["service_account_key"]))
        subject = str(ctx.params["subject"])
        token = service_account_token(
            ctx, info, token_uri=str(ctx.params["token_uri"]), subject=subject, scopes=SCOPES
        )
        ctx.identity = f"google:{info['client_email']} as {subject}"
        api = _Directory(ctx, token)
        users = list(api.pages("directory.users.list", "users", projection="full"))
        roles = self._roles(ctx, api)
        domain = subject.rpartition("@")[2] or str(ctx.params["customer"])
        rows = [self._row(ctx, user, roles, domain) for user in users]
        ctx.progress(len(rows), len(rows), "users")
        return sorted(rows, key=lambda r: (r["display_name"].lower(), r["account_id"]))

    @staticmethod
    def _roles(ctx: CollectionContext, api: _Directory) -> dict[str, list[str]] | None:
        """``{user id: sorted role names}``, or ``None`` when the roles cannot be read."""
        try:
            names = {
                str(r.get("roleId")): str(r.get("roleName"))
                for r in api.pages("directory.roles.list", "roles")
            }
            assigned: dict[str, set[str]] = {}
            for item in api.pages("directory.roleAssignments.list", "roleassignments"):
                if item.get("assigneeType", "user") != "user":
                    continue
                role = names.get(str(item.get("roleId")), str(item.get("roleId")))
                assigned.setdefault(str(item.get("assignedTo")), set()).add(role)
        except CollectorError as exc:
            ctx.logger.warning(
                "cannot read admin roles (privileges come from the users' admin flags): %s",
                exc.message,
            )
            return None
        return {user: sorted(roles) for user, roles in assigned.items()}

    @staticmethod
    def _row(
        ctx: CollectionContext,
        user: dict[str, Any],
        roles: dict[str, list[str]] | None,
        domain: str,
    ) -> dict[str, Any]:
        user_id = str(user["id"])
        email = str(user.get("primaryEmail") or user_id)
        super_admin = bool(user.get("isAdmin"))
        delegated = bool(user.get("isDelegatedAdmin"))
        user_roles = None if roles is None else roles.get(user_id, [])
        if user_roles is None:
            privileges = sorted(
                n for n, held in (("super_admin", super_admin), ("delegated_admin", delegated))
                if held
            )  # fmt: skip
        else:
            privileges = sorted({*user_roles, *(["super_admin"] if super_admin else [])})
        last = user.get("lastLoginTime")
        last = None if not last or last == _NEVER else last
        since = last or user.get("creationTime")
        idle = (ctx.now() - _parse(since)).days if since else None
        suspended = bool(user.get("suspended"))
        archived = bool(user.get("archived"))
        status = "archived" if archived else "suspended" if suspended else "active"
        enrolled = user.get("isEnrolledIn2Sv")
        enforced = user.get("isEnforcedIn2Sv")
        return {
            "account_id": f"google-workspace:user:{user_id}",
            "display_name": email,
            "email": email.lower(),
            "privileges": privileges,
            "is_privileged": super_admin or delegated,
            "mfa_enabled": enrolled if isinstance(enrolled, bool) else None,
            "last_activity_at": last,
            "status": status,
            "source": f"google-workspace:{domain}",
            "suspended": suspended,
            "archived": archived,
            "is_super_admin": super_admin,
            "is_delegated_admin": delegated,
            "roles": user_roles,
            "two_step_enrolled": enrolled if isinstance(enrolled, bool) else None,
            "two_step_enforced": enforced if isinstance(enforced, bool) else None,
            "org_unit": user.get("orgUnitPath"),
            "aliases": sorted(str(a).lower() for a in user.get("aliases") or []),
            "created_at": user.get("creationTime"),
            "idle_days": idle,
        }

    @assertion(
        f"{_KEY}.two_step_enforced",
        title="2-Step Verification is enforced for every active Google Workspace user",
        severity=Severity.HIGH,
        remediation="Turn on 2-Step Verification enforcement for every organisational unit "
        "(Admin console, Security, Authentication, 2-Step Verification) and have users enrol.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.5", "iso27001-2022:A.5.17"),
        rationale="Enforced 2-Step Verification makes a second factor mandatory at sign-in "
        "(CC6.1, A.8.5) and protects passwords from being enough on their own (A.5.17).",
    )
    def two_step_enforced(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Active users only; enrolment without enforcement is a FAIL (it can be turned off)."""
        if row["status"] != "active":
            return None
        return _two_step(row)

    @assertion(
        f"{_KEY}.admins_two_step_enforced",
        title="Every Google Workspace administrator has 2-Step Verification enforced",
        severity=Severity.CRITICAL,
        remediation="Enforce 2-Step Verification (security keys preferred) for the "
        "organisational units or groups that hold administrators.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.2", "iso27001-2022:A.8.5"),
        rationale="Administrator accounts are privileged access (A.8.2); a mandatory second "
        "factor is the authentication CC6.1 and A.8.5 require for them first.",
    )
    def admins_two_step_enforced(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Active super and delegated admins only."""
        if row["status"] != "active" or not row["is_privileged"]:
            return None
        return _two_step(row)

    @assertion(
        f"{_KEY}.super_admins_within_limit",
        title="The number of Google Workspace super admins stays within a threshold",
        severity=Severity.MEDIUM,
        remediation="Keep two to four super admins for break-glass use and give everyone else "
        "a delegated admin role with only the privileges they need.",
        controls=("soc2-2017:CC6.3", "iso27001-2022:A.8.2"),
        rationale="Few holders of the all-powerful role is least privilege for privileged "
        "access (CC6.3, A.8.2).",
        params=(
            Param("max_super_admins", "integer", default=4, help="Most active super admins."),
            Param("min_super_admins", "integer", default=2, help="Fewest (break-glass)."),
        ),
        per="table",
    )
    def super_admins_within_limit(
        rows: list[dict[str, Any]], params: dict[str, Any]
    ) -> Iterator[Outcome]:
        """One verdict for the whole tenant, naming the super admins."""
        admins = sorted(r["display_name"] for r in rows if r["is_super_admin"] and
                        r["status"] == "active")  # fmt: skip
        low, high = params["min_super_admins"], params["max_super_admins"]
        names = ", ".join(admins) or "none"
        if low <= len(admins) <= high:
            yield Outcome(Status.PASS, f"{len(admins)} active super admins ({names}).")
        else:
            yield Outcome(Status.FAIL, f"{len(admins)} active super admins ({names}); "
                          f"expected between {low} and {high}.")  # fmt: skip

    @assertion(
        f"{_KEY}.inactive_accounts",
        title="No active Google Workspace account is idle for too long",
        severity=Severity.MEDIUM,
        remediation="Suspend or delete accounts that are no longer used, and review access "
        "when people change roles or leave.",
        controls=("soc2-2017:CC6.2", "iso27001-2022:A.5.18", "iso27001-2022:A.5.16"),
        rationale="Removing access that is no longer needed is credential removal (CC6.2), "
        "access rights review (A.5.18) and identity life-cycle management (A.5.16).",
        params=(Param("max_days", "integer", default=90, help="Maximum days without sign-in."),),
    )
    def inactive_accounts(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Active users only; a user who never signed in counts from creation."""
        if row["status"] != "active" or row["idle_days"] is None:
            return None
        name, idle, limit = row["display_name"], row["idle_days"], params["max_days"]
        last = row["last_activity_at"]
        seen = f"last login {last[:10]}" if last else "never signed in"
        if idle > limit:
            return Outcome(Status.FAIL, f"{name} is idle for {idle} days ({seen}; limit {limit}).")
        return Outcome(Status.PASS, f"{name} is idle for {idle} days ({seen}).")


def _two_step(row: dict[str, Any]) -> Outcome:
    name = row["display_name"]
    if row["two_step_enforced"] is None or row["two_step_enrolled"] is None:
        return Outcome(Status.ERROR, f"2-Step Verification state of {name} was not returned.")
    if row["two_step_enforced"] and row["two_step_enrolled"]:
        return Outcome(Status.PASS, f"{name} has 2-Step Verification enrolled and enforced.")
    if row["two_step_enforced"]:
        return Outcome(Status.FAIL, f"{name} must use 2-Step Verification but has not enrolled.")
    enrolled = "enrolled" if row["two_step_enrolled"] else "not enrolled"
    return Outcome(Status.FAIL, f"{name} is {enrolled} and 2-Step Verification is not enforced.")


class _Directory:
    """Admin SDK Directory calls for one collection (``nextPageToken`` pages)."""

    def __init__(self, ctx: CollectionContext, token: str) -> None:
        self.ctx = ctx
        self.root = str(ctx.params["base_url"]).rstrip("/") + "/admin/directory/v1"
        self.customer = str(ctx.params["customer"])
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _url(self, kind: str) -> str:
        if kind == "users":
            return f"{self.root}/users"
        return f"{self.root}/customer/{self.customer}/{kind}"

    def pages(self, operation: str, kind: str, **query: str) -> Iterator[dict[str, Any]]:
        """Every item of a list call, following ``nextPageToken``."""
        self.ctx.record_call(f"google:{operation}")
        params: dict[str, str] = {"maxResults": "500" if kind == "users" else "100", **query}
        if kind == "users":
            params["customer"] = self.customer
        seen: set[str] = set()
        while True:
            self.ctx.check_budget()
            body = self._get(self._url(kind), params)
            yield from body.get("items" if kind != "users" else "users") or []
            token = body.get("nextPageToken")
            if not token or token in seen:
                return
            seen.add(token)
            params = {**params, "pageToken": str(token)}

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        session = self.ctx.http
        for attempt in range(_RATE_RETRIES + 1):
            response = session.get(url, headers=self.headers, params=params)
            if response.status_code == 403 and _rate_reason(response) and attempt < _RATE_RETRIES:
                wait = float(2**attempt)
                if wait > self.ctx.remaining():
                    break
                getattr(session, "waits", []).append(wait)
                getattr(session, "sleep", lambda _s: None)(wait)
                continue
            if response.status_code == 403 and _rate_reason(response):
                raise CollectorError(
                    f"Google Admin SDK rate limit ({_rate_reason(response)}) persisted",
                    permanent=False,
                )
            check_response(response)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise CollectorError("unexpected answer from the Admin SDK", permanent=False)
            return body
        raise CollectorError("Google Admin SDK rate limit beyond the time budget", permanent=False)


def _rate_reason(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    errors = ((body or {}).get("error") or {}).get("errors") or [] if isinstance(body, dict) else []
    for error in errors:
        if isinstance(error, dict) and error.get("reason") in _RATE_REASONS:
            return str(error["reason"])
    return None


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(format_datetime(text).replace("Z", "+00:00"))
