"""Fleet hosts: disk encryption, screen-lock policy results, OS version and last check-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    assertion,
    register,
)
from collectors._devices import (
    CHECKED_IN,
    DEVICE_COLUMNS,
    DISK_ENCRYPTION,
    MAX_DAYS_SINCE_SEEN,
    MINIMUM_OS_PARAM,
    OS_SUPPORTED,
    SCREEN_LOCK,
    checked_in_outcome,
    days_since,
    encrypted_outcome,
    os_version_number,
    os_version_outcome,
    parse_time,
    screen_lock_outcome,
)

_SCREEN_LOCK = "fleet_hosts.screen_lock"
#: Fleet's host platforms that its policies call by another name ("linux" covers them all).
_POLICY_FAMILY = {"darwin": "darwin", "windows": "windows", "chrome": "chrome"}
_PLATFORM_NAMES = {"darwin": "macos"}


@register
class FleetHostsCollector(Collector):
    """Hosts enrolled in Fleet with their encryption, screen-lock policy results and OS.

    Calls (Fleet REST API, ``Authorization: Bearer`` token of an API-only user with the
    Observer role): ``GET /api/v1/fleet/me`` (who the token acts as),
    ``GET /api/v1/fleet/global/policies`` (and ``/teams/{id}/policies`` with ``team_id``)
    to find the screen-lock policies named in ``screen_lock_policies``, then for each of
    them ``GET /api/v1/fleet/hosts?policy_id=…&policy_response=passing|failing`` (paged),
    and ``GET /api/v1/fleet/hosts`` (paged with ``page``/``per_page``, ordered by id, with
    ``device_mapping=true`` for the assigned user). No call is made per host: the number of
    calls grows with pages, not devices. Fleet's 429 ``retry-after`` is honoured.

    Disk encryption is Fleet's ``disk_encryption_enabled`` (osquery's ``disk_encryption``
    table: FileVault, BitLocker, LUKS); a host that has not reported it gives ERROR. Screen
    lock is proven by Fleet policies (osquery checks the organisation writes, e.g. one that
    reads ``screenlock`` on macOS): a host passes when every named policy that targets its
    platform passes. A policy whose results cannot be read makes the check ERROR for the
    hosts it targets; the other checks go on.

    Example row: host 7 ``alice-mbp`` (macOS 14.4.1), encrypted, screen-lock policy
    failing, last seen 3 days ago: fails ``fleet_hosts.screen_lock`` and (with the default
    minimum 15.0) ``fleet_hosts.os_supported``.
    """

    key = "fleet_hosts"
    title = "Fleet hosts: encryption, screen lock, OS version, check-in"
    version = 1
    params = (
        Param("base_url", "string", required=True, destination=True,
              help="Fleet server URL, e.g. https://fleet.acme.example."),
        Param("token", "string", required=True, secret=True,
              help="API token of an API-only Fleet user with the Observer role."),
        Param("team_id", "integer", help="Only hosts of this team (Fleet Premium)."),
        Param("platforms", "list", default=[],
              help="Only hosts of these platforms (macos, windows, ubuntu, ...); empty: all."),
        Param("screen_lock_policies", "list",
              default=["Screen lock enabled (macOS)", "Screen lock enabled (Windows)"],
              help="Names of the Fleet policies that check the screen lock."),
        Param("per_page", "integer", default=500, help="Hosts per page (Fleet's per_page)."),
        Param("ca_bundle", "string", destination=True,
              help="PEM file of a private CA to trust (self-hosted Fleet, tests)."),
    )  # fmt: skip
    permissions = ("fleet:observer (hosts, policies read)",)
    columns = (
        *DEVICE_COLUMNS,
        Column("fleet_platform", "string", "Fleet's own platform name (darwin, windows, ...)."),
        Column("team", "string", "Fleet team of the host (null: no team)."),
        Column("failing_policies", "integer", "Failing Fleet policies of any kind."),
    )
    resource_column = "device_id"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per host, in Fleet's id order."""
        api = _FleetAPI(ctx)
        me = api.json("me", "/api/v1/fleet/me").get("user") or {}
        ctx.identity = f"fleet:{me.get('email') or me.get('name') or 'unknown'}"
        policies = self._screen_lock_policies(ctx, api)
        platforms = {str(p).lower() for p in ctx.params["platforms"]}
        query = {"order_key": "id", "order_direction": "asc", "device_mapping": "true"}
        rows = []
        for host in api.hosts(query):
            ctx.check_budget()
            row = self._row(ctx, api, host, policies)
            if not platforms or row["platform"] in platforms:
                rows.append(row)
                ctx.progress(len(rows), None, row["name"])
        return rows

    def _screen_lock_policies(self, ctx: CollectionContext, api: _FleetAPI) -> list[_Policy]:
        wanted = [str(name) for name in ctx.params["screen_lock_policies"]]
        if not wanted:
            return []
        found = {p["name"]: p for p in api.json("policies/list-global",
                 "/api/v1/fleet/global/policies").get("policies") or []}  # fmt: skip
        team = ctx.params.get("team_id")
        if team is not None:
            body = api.json("policies/list-team", f"/api/v1/fleet/teams/{int(team)}/policies")
            for item in (body.get("policies") or []) + (body.get("inherited_policies") or []):
                found.setdefault(item["name"], item)
        policies = [_Policy.read(ctx, api, found[name]) for name in wanted if name in found]
        missing = [name for name in wanted if name not in found]
        if missing and not policies:
            ctx.error(f"none of the screen-lock policies {', '.join(map(repr, missing))} "
                      "exists in Fleet: create them or name yours in screen_lock_policies",
                      action="fleet:policies/list-global", assertions=(_SCREEN_LOCK,))  # fmt: skip
        elif missing:
            ctx.logger.warning("screen-lock policies not found in Fleet: %s", ", ".join(missing))
        return policies

    @staticmethod
    def _row(
        ctx: CollectionContext, api: _FleetAPI, host: dict[str, Any], policies: list[_Policy]
    ) -> dict[str, Any]:
        fleet_platform = str(host.get("platform") or "").lower()
        os_name = host.get("os_version") or None
        seen = parse_time(host.get("seen_time"))
        encrypted = host.get("disk_encryption_enabled")
        mapping = host.get("device_mapping") or []
        lock, lock_detail = _screen_lock(int(host["id"]), fleet_platform, policies)
        return {
            "device_id": str(host["id"]),
            "name": str(host.get("display_name") or host.get("hostname") or host["id"]),
            "serial_number": host.get("hardware_serial") or None,
            "platform": _PLATFORM_NAMES.get(fleet_platform, fleet_platform) or None,
            "os_name": os_name,
            "os_version": os_version_number(os_name),
            "disk_encrypted": encrypted,
            "encryption_detail": "not reported by the host (no disk details from osquery)"
            if encrypted is None
            else f"Fleet disk_encryption_enabled: {str(encrypted).lower()}",
            "screen_lock_enforced": lock,
            "screen_lock_detail": lock_detail,
            "last_seen_at": seen,
            "days_since_seen": days_since(seen, ctx.now()),
            "assigned_user": next((m.get("email") for m in mapping if m.get("email")), None),
            "source": f"fleet:{api.host}",
            "fleet_platform": fleet_platform or None,
            "team": host.get("team_name"),
            "failing_policies": (host.get("issues") or {}).get("failing_policies_count"),
        }

    @assertion(
        "fleet_hosts.disk_encrypted",
        title="Every Fleet host has its disk encrypted",
        severity=Severity.HIGH,
        remediation="Turn on FileVault (macOS), BitLocker (Windows) or LUKS (Linux), or "
        "enforce it with Fleet's disk encryption setting; escrow the recovery key.",
        **DISK_ENCRYPTION,
    )  # fmt: skip
    def disk_encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """ERROR when the host has not reported its encryption state."""
        return encrypted_outcome(row)

    @assertion(
        _SCREEN_LOCK,
        title="Every Fleet host passes its screen-lock policies",
        severity=Severity.MEDIUM,
        remediation="Enforce a screen lock after inactivity (configuration profile or group "
        "policy) and keep the Fleet policy that checks it.",
        **SCREEN_LOCK,
    )
    def screen_lock(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Not evaluated for platforms no named policy targets."""
        return screen_lock_outcome(row)

    @assertion(
        "fleet_hosts.os_supported",
        title="Every Fleet host runs at least the minimum OS version",
        severity=Severity.MEDIUM,
        remediation="Update the operating system (or enforce a minimum version with Fleet's "
        "OS update settings).",
        **OS_SUPPORTED,
        params=(MINIMUM_OS_PARAM,),
    )  # fmt: skip
    def os_supported(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Platforms without a minimum in ``minimum_versions`` are not checked."""
        return os_version_outcome(row, params)

    @assertion(
        "fleet_hosts.checked_in",
        title="Every Fleet host checked in recently",
        severity=Severity.LOW,
        remediation="Find the device: reinstall the Fleet agent, or retire the host in Fleet "
        "when the device is gone.",
        **CHECKED_IN,
        params=(MAX_DAYS_SINCE_SEEN,),
    )
    def checked_in(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """FAIL past ``max_days`` without a check-in."""
        return checked_in_outcome(row, params)


class _Policy:
    """A screen-lock policy and the ids of the hosts passing and failing it."""

    def __init__(self, name: str, family: str, passing: set[int] | None, failing: set[int] | None):
        self.name, self.family, self.passing, self.failing = name, family, passing, failing

    @classmethod
    def read(cls, ctx: CollectionContext, api: _FleetAPI, policy: dict[str, Any]) -> _Policy:
        """Read the passing and failing hosts of ``policy`` (``None`` sets when unreadable)."""
        results: dict[str, set[int] | None] = {}
        for response in ("passing", "failing"):
            query = {"policy_id": str(policy["id"]), "policy_response": response,
                     "order_key": "id", "order_direction": "asc"}  # fmt: skip
            ids = ctx.attempt(
                lambda q=query: {int(h["id"]) for h in api.hosts(q)},
                action="fleet:hosts/list",
                assertions=(_SCREEN_LOCK,),
                message=f"cannot read the {response} hosts of policy {policy['name']!r}",
            )
            results[response] = ids
        family = str(policy.get("platform") or "").lower()
        return cls(str(policy["name"]), family, results["passing"], results["failing"])

    def targets(self, fleet_platform: str) -> bool:
        """Whether the policy runs on hosts of ``fleet_platform`` (empty: every platform)."""
        if not self.family:
            return True
        family = _POLICY_FAMILY.get(fleet_platform, "linux")
        return family in {part.strip() for part in self.family.split(",")}


def _screen_lock(host_id: int, platform: str, policies: list[_Policy]) -> tuple[bool | None, str]:
    applicable = [p for p in policies if p.targets(platform)]
    if not applicable:
        return None, f"not applicable: no screen-lock policy targets {platform or 'this host'}"
    unreadable = [p.name for p in applicable if p.passing is None or p.failing is None]
    failing = [p.name for p in applicable if p.failing is not None and host_id in p.failing]
    if failing:
        return False, f"failing: {', '.join(failing)}"
    if unreadable:
        return None, f"results not readable: {', '.join(unreadable)}"
    pending = [p.name for p in applicable if host_id not in (p.passing or set())]
    if pending:
        return None, f"no result yet: {', '.join(pending)}"
    return True, f"passing: {', '.join(p.name for p in applicable)}"


class _FleetAPI:
    """Fleet calls for one collection, recorded as ``fleet:<operation>``."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.base_url = str(ctx.params["base_url"]).rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.headers = {
            "Authorization": f"Bearer {ctx.params['token']}",
            "Accept": "application/json",
            "User-Agent": "pixaudit-collector",
        }
        self.per_page = max(1, int(ctx.params["per_page"]))
        team = ctx.params.get("team_id")
        self.team = {} if team is None else {"team_id": str(int(team))}

    def json(self, operation: str, path: str, query: dict[str, str] | None = None) -> Any:
        """GET ``path``; error statuses raise :class:`CollectorError`."""
        self.ctx.record_call(f"fleet:{operation}")
        body = self.ctx.http_json("GET", self.base_url + path, headers=self.headers,
                                  params=query or {})  # fmt: skip
        if not isinstance(body, dict):
            raise CollectorError(f"unexpected response from Fleet {operation}", permanent=False)
        return body

    def hosts(self, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Every host of the paged ``GET /hosts`` (``page`` from 0 until the last page)."""
        page = 0
        while True:
            params = {**query, **self.team, "page": str(page), "per_page": str(self.per_page)}
            body = self.json("hosts/list", "/api/v1/fleet/hosts", params)
            hosts = body.get("hosts")
            if not isinstance(hosts, list):
                raise CollectorError("Fleet hosts/list returned no host list", permanent=False)
            yield from hosts
            more = (body.get("meta") or {}).get("has_next_results")
            if not hosts or (more is False) or (more is None and len(hosts) < self.per_page):
                return
            page += 1
