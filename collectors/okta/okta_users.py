"""Okta users: status, enrolled factors, admin roles and last sign-in (an identity population)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.identity import IDENTITY_COLUMNS
from collectors.okta._api import OKTA_PARAMS, OktaAPI, okta_error
from collectors.schema import format_datetime

#: Statuses of activated accounts that can sign in (or will after a reset or unlock).
ACTIVE_STATUSES = frozenset({"active", "password_expired", "locked_out", "recovery"})
#: Factor types that are not a second factor of their own (knowledge or the mailbox).
WEAK_FACTORS = ("email", "password", "question")
_MFA_ASSERTION = "okta_users.mfa_enrolled"


@register
class OktaUsersCollector(Collector):
    """Okta users with their status, enrolled factors, admin roles and last sign-in.

    Calls (Okta management API, SSWS token): ``GET /api/v1/users/me`` (who the token acts
    as), ``GET /api/v1/users`` (Link-paginated; Okta omits deprovisioned users), and for each
    user ``GET /api/v1/users/{id}/factors`` and ``GET /api/v1/users/{id}/roles``. A read-only
    administrator's token suffices (OAuth scopes ``okta.users.read`` and ``okta.roles.read``).
    Okta's ``X-Rate-Limit-*`` headers are honoured. A user whose factors cannot be read gets
    an ERROR for ``okta_users.mfa_enrolled``; the others are still collected.

    ``idle_days`` counts whole days since the last sign-in, or since activation (else
    creation) for a user who never signed in, at collection time.

    Findings name each user by its Okta id (``account_id``, e.g. ``00u1bob0000000002``: unique
    and stable, unlike the login, which can be renamed or reused); the login is the
    ``display_name`` column and in every message.

    Example row: ``00u1bob0000000002`` (``bob@acme.example``), status ``active``, factors
    ``[email ACTIVE, sms PENDING_ACTIVATION]``, last sign-in 2024-01-10, 143 days idle: fails both
    ``okta_users.mfa_enrolled`` and ``okta_users.inactive_accounts``.
    """

    key = "okta_users"
    title = "Okta users, factors and last sign-in"
    version = 2
    params = OKTA_PARAMS
    permissions = ("okta.users.read", "okta.roles.read")
    columns = (
        *IDENTITY_COLUMNS,
        Column("factors", "json", "Enrolled factors: type, provider, status (sorted)."),
        Column("created_at", "datetime", "When the user was created."),
        Column("activated_at", "datetime", "When the user was activated (null: never)."),
        Column("password_changed_at", "datetime", "Last password change."),
        Column("idle_days", "integer", "Days since last sign-in (or activation if never)."),
    )
    resource_column = "account_id"
    max_age = timedelta(days=1)
    identity_population = True

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per user, sorted by login."""
        api = OktaAPI(ctx)
        me = api.json("users/get-current", "users", "me")
        ctx.identity = f"okta:{(me.get('profile') or {}).get('login') or me.get('id')}"
        users = list(api.items("users/list", "users"))
        rows = []
        for index, user in enumerate(users):
            ctx.check_budget()
            rows.append(self._row(ctx, api, user))
            ctx.progress(index + 1, len(users), rows[-1]["display_name"])
        return sorted(rows, key=lambda r: r["display_name"].lower())

    def _row(self, ctx: CollectionContext, api: OktaAPI, user: dict[str, Any]) -> dict[str, Any]:
        profile = user.get("profile") or {}
        login = str(profile.get("login") or user["id"])
        factors = self._factors(ctx, api, str(user["id"]), login)
        roles = self._roles(ctx, api, user["id"], login)
        since = user.get("lastLogin") or user.get("activated") or user.get("created")
        idle = (ctx.now() - _parse(since)).days if since else None
        return {
            "account_id": str(user["id"]),
            "display_name": login,
            "email": profile.get("email"),
            "privileges": roles,
            "is_privileged": None if roles is None else bool(roles),
            "mfa_enabled": None if factors is None else bool(_strong(factors, WEAK_FACTORS)),
            "last_activity_at": user.get("lastLogin"),
            "status": str(user.get("status") or "").lower() or None,
            "source": f"okta:{api.org}",
            "factors": factors,
            "created_at": user.get("created"),
            "activated_at": user.get("activated"),
            "password_changed_at": user.get("passwordChanged"),
            "idle_days": idle,
        }

    @staticmethod
    def _factors(
        ctx: CollectionContext, api: OktaAPI, user_id: str, login: str
    ) -> list[dict[str, Any]] | None:
        response = api.get("users/list-factors", "users", user_id, "factors")
        if response.status_code != 200:
            ctx.error(f"cannot list factors of {login}: {okta_error(response)}",
                      action="okta:users/list-factors", resource=user_id,
                      assertions=(_MFA_ASSERTION,))  # fmt: skip
            return None
        factors = [
            {"type": f.get("factorType"), "provider": f.get("provider"), "status": f.get("status")}
            for f in response.json()
        ]
        return sorted(factors, key=lambda f: (str(f["type"]), str(f["provider"])))

    @staticmethod
    def _roles(ctx: CollectionContext, api: OktaAPI, user_id: str, login: str) -> list[str] | None:
        response = api.get("users/list-roles", "users", user_id, "roles")
        if response.status_code != 200:
            ctx.logger.warning("cannot list admin roles of %s: %s", login, okta_error(response))
            return None
        roles = response.json()
        return sorted({str(r.get("type")) for r in roles if r.get("status", "ACTIVE") == "ACTIVE"})

    @assertion(
        _MFA_ASSERTION,
        title="Every active Okta user has a second factor enrolled",
        severity=Severity.HIGH,
        remediation="Enrol the user in a strong factor (Okta Verify, WebAuthn, TOTP) and "
        "require it in the authentication policy.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.5", "iso27001-2022:A.5.17"),
        rationale="A second factor beyond the password is secure authentication (CC6.1, "
        "A.8.5) and protects authentication information (A.5.17).",
        params=(
            Param(
                "ignored_factor_types",
                "list",
                default=list(WEAK_FACTORS),
                help="Factor types that do not count as a second factor.",
            ),
        ),
    )
    def mfa_enrolled(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Active users only: PASS with at least one ACTIVE factor not in the ignored types."""
        if row["status"] not in ACTIVE_STATUSES or row["factors"] is None:
            return None
        strong = _strong(row["factors"], params["ignored_factor_types"])
        if strong:
            return Outcome(Status.PASS, f"{row['display_name']} has {', '.join(strong)}.")
        enrolled = [f"{f['type']} ({f['status']})" for f in row["factors"]]
        return Outcome(Status.FAIL, f"{row['display_name']} has no second factor "
                       f"(enrolled: {', '.join(enrolled) or 'none'}).")  # fmt: skip

    @assertion(
        "okta_users.inactive_accounts",
        title="No active Okta account is idle for too long",
        severity=Severity.MEDIUM,
        remediation="Suspend or deactivate accounts that are no longer used, and review "
        "access when people change roles or leave.",
        controls=("soc2-2017:CC6.2", "iso27001-2022:A.5.18", "iso27001-2022:A.5.16"),
        rationale="Removing access that is no longer needed is credential removal (CC6.2), "
        "access rights review (A.5.18) and identity life-cycle management (A.5.16).",
        params=(Param("max_days", "integer", default=90, help="Maximum days without sign-in."),),
    )
    def inactive_accounts(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Active users only; a user who never signed in counts from activation."""
        if row["status"] not in ACTIVE_STATUSES or row["idle_days"] is None:
            return None
        name, idle, limit = row["display_name"], row["idle_days"], params["max_days"]
        last = row["last_activity_at"]
        seen = f"last sign-in {last[:10]}" if last else "never signed in"
        if idle > limit:
            return Outcome(Status.FAIL, f"{name} is idle for {idle} days ({seen}; limit {limit}).")
        return Outcome(Status.PASS, f"{name} is idle for {idle} days ({seen}).")


def _strong(factors: list[dict[str, Any]], ignored: list[str]) -> list[str]:
    return sorted(
        {
            str(f["type"])
            for f in factors
            if f.get("status") == "ACTIVE" and str(f.get("type")).lower() not in ignored
        }
    )


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(format_datetime(text).replace("Z", "+00:00"))
