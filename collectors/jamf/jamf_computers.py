"""Jamf Pro computers: FileVault, screen-lock profile, macOS version and last check-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    ErrorKind,
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
from collectors._http import check_response

_SCREEN_LOCK = "jamf_computers.screen_lock"
#: Inventory sections read in the one paged list call.
_SECTIONS = (
    "GENERAL",
    "HARDWARE",
    "OPERATING_SYSTEM",
    "DISK_ENCRYPTION",
    "USER_AND_LOCATION",
    "CONFIGURATION_PROFILES",
)
_ENCRYPTED_STATES = {"ENCRYPTED"}
_UNKNOWN_STATES = {"", "UNKNOWN"}


@register
class JamfComputersCollector(Collector):
    """Computers managed by Jamf Pro with FileVault state, profiles, macOS and check-in.

    Calls (Jamf Pro API, an API client with the "Read Computers" privilege): ``POST
    /api/oauth/token`` (client credentials; the token is fetched again when it expires or a
    call answers 401), then ``GET /api/v3/computers-inventory`` with the sections GENERAL,
    HARDWARE, OPERATING_SYSTEM, DISK_ENCRYPTION, USER_AND_LOCATION and
    CONFIGURATION_PROFILES, paged with ``page``/``page-size`` and sorted by id. One call per
    page, none per computer. 429 and 5xx answers are retried with the SDK's backoff.

    Disk encryption is the boot partition's FileVault 2 state (``ENCRYPTED`` passes;
    ``ENCRYPTING``, ``DECRYPTED`` and the like fail; no state gives ERROR). Jamf's inventory
    has no screen-lock field: the screen lock is proven by an installed configuration
    profile named in ``screen_lock_profiles`` (the profile that sets the screensaver and
    password delay). With no profile named, the check reports one ERROR saying so.

    Example row: computer 12 ``Bob's MacBook Air``, macOS 14.6, FileVault ``ENCRYPTED``,
    profile "Screen lock (5 min)" installed, last contact 40 days ago: fails
    ``jamf_computers.checked_in`` and (minimum 15.0) ``jamf_computers.os_supported``.
    """

    key = "jamf_computers"
    title = "Jamf Pro computers: FileVault, screen lock, macOS version, check-in"
    version = 1
    params = (
        Param("base_url", "string", required=True, destination=True,
              help="Jamf Pro URL, e.g. https://acme.jamfcloud.com."),
        Param("client_id", "string", required=True, help="API client id (Read Computers)."),
        Param("client_secret", "string", required=True, secret=True,
              help="API client secret."),
        Param("screen_lock_profiles", "list", default=[],
              help="Names of the configuration profiles that enforce the screen lock."),
        Param("page_size", "integer", default=200, help="Computers per page (page-size)."),
        Param("ca_bundle", "string", destination=True,
              help="PEM file of a private CA to trust (on-premises Jamf Pro, tests)."),
    )  # fmt: skip
    permissions = ("jamf:Read Computers",)
    columns = (
        *DEVICE_COLUMNS,
        Column("filevault_state", "string", "Boot partition FileVault 2 state (ENCRYPTED, ...)."),
        Column("profiles", "json", "Names of the installed configuration profiles (sorted)."),
        Column("managed", "boolean", "Jamf manages the computer (remote management)."),
    )
    resource_column = "device_id"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Return one row per computer, in Jamf's id order."""
        api = _JamfAPI(ctx)
        ctx.identity = f"jamf:{api.host}/api-client:{ctx.params['client_id']}"
        wanted = [str(name) for name in ctx.params["screen_lock_profiles"]]
        if not wanted:
            ctx.error("no screen-lock configuration profile is named: set screen_lock_profiles "
                      "to the profiles that enforce it", assertions=(_SCREEN_LOCK,))  # fmt: skip
        rows = []
        for computer in api.computers():
            ctx.check_budget()
            rows.append(_row(ctx, api, computer, wanted))
            ctx.progress(len(rows), api.total, rows[-1]["name"])
        return rows

    @assertion(
        "jamf_computers.disk_encrypted",
        title="Every Jamf computer has FileVault on",
        severity=Severity.HIGH,
        remediation="Enforce FileVault with a configuration profile and escrow the personal "
        "recovery key to Jamf Pro.",
        **DISK_ENCRYPTION,
    )  # fmt: skip
    def disk_encrypted(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """ERROR when Jamf has no FileVault state for the computer."""
        return encrypted_outcome(row)

    @assertion(
        _SCREEN_LOCK,
        title="Every Jamf computer has the screen-lock profile installed",
        severity=Severity.MEDIUM,
        remediation="Scope the screen-lock configuration profile to every computer.",
        **SCREEN_LOCK,
    )
    def screen_lock(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """Not evaluated per computer while no profile is named (one ERROR says so)."""
        return screen_lock_outcome(row)

    @assertion(
        "jamf_computers.os_supported",
        title="Every Jamf computer runs at least the minimum macOS version",
        severity=Severity.MEDIUM,
        remediation="Update macOS (Jamf's managed software updates can enforce a deadline).",
        **OS_SUPPORTED,
        params=(MINIMUM_OS_PARAM,),
    )  # fmt: skip
    def os_supported(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
        """The ``macos`` entry of ``minimum_versions`` applies."""
        return os_version_outcome(row, params)

    @assertion(
        "jamf_computers.checked_in",
        title="Every Jamf computer checked in recently",
        severity=Severity.LOW,
        remediation="Find the computer: re-enrol it, or retire its record when it is gone.",
        **CHECKED_IN,
        params=(MAX_DAYS_SINCE_SEEN,),
    )
    def checked_in(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """FAIL past ``max_days`` since the last contact."""
        return checked_in_outcome(row, params)


def _row(
    ctx: CollectionContext, api: _JamfAPI, computer: dict[str, Any], wanted: list[str]
) -> dict[str, Any]:
    general = computer.get("general") or {}
    system = computer.get("operatingSystem") or {}
    disk = computer.get("diskEncryption") or {}
    boot = disk.get("bootPartitionEncryptionDetails") or {}
    state = str(boot.get("partitionFileVault2State") or "").upper()
    profiles = sorted({str(p.get("displayName")) for p in computer.get("configurationProfiles")
                       or [] if p.get("displayName")})  # fmt: skip
    installed = [name for name in wanted if name in profiles]
    seen = parse_time(general.get("lastContactTime"))
    os_name = " ".join(str(v) for v in (system.get("name"), system.get("version")) if v) or None
    user = computer.get("userAndLocation") or {}
    return {
        "device_id": str(computer["id"]),
        "name": str(general.get("name") or computer["id"]),
        "serial_number": (computer.get("hardware") or {}).get("serialNumber") or None,
        "platform": "macos",
        "os_name": os_name,
        "os_version": os_version_number(system.get("version")),
        "disk_encrypted": None if state in _UNKNOWN_STATES else state in _ENCRYPTED_STATES,
        "encryption_detail": f"FileVault 2 {state.lower()}" if state else "no FileVault state",
        "screen_lock_enforced": bool(installed) if wanted else None,
        "screen_lock_detail": (f"profile installed: {', '.join(installed)}" if installed
                               else f"none of {', '.join(wanted)} installed" if wanted
                               else "not applicable: no screen-lock profile named"),
        "last_seen_at": seen,
        "days_since_seen": days_since(seen, ctx.now()),
        "assigned_user": user.get("email") or None,
        "source": f"jamf:{api.host}",
        "filevault_state": state or None,
        "profiles": profiles,
        "managed": (general.get("remoteManagement") or {}).get("managed"),
    }  # fmt: skip


class _JamfAPI:
    """Jamf Pro calls for one collection: an OAuth token and the paged inventory."""

    def __init__(self, ctx: CollectionContext) -> None:
        self.ctx = ctx
        self.base_url = str(ctx.params["base_url"]).rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.page_size = max(1, int(ctx.params["page_size"]))
        self.total: int | None = None
        self._token: str | None = None
        self._expires = 0.0

    def _fetch_token(self) -> str:
        self.ctx.record_call("jamf:oauth/token")
        response = self.ctx.http.post(
            f"{self.base_url}/api/oauth/token",
            data={"grant_type": "client_credentials", "client_id": self.ctx.params["client_id"],
                  "client_secret": self.ctx.params["client_secret"]},
            headers={"Accept": "application/json"},
        )  # fmt: skip
        if response.status_code in (400, 401):
            raise CollectorError(
                f"Jamf Pro refused the API client credentials (HTTP {response.status_code}): "
                "check the client id and secret, and that the client is enabled",
                permanent=True,
                action="jamf:oauth/token",
                kind=ErrorKind.CREDENTIALS,
            )
        body = check_response(response).json()
        token = str(body.get("access_token") or "")
        if not token:
            raise CollectorError("Jamf Pro returned no access token", permanent=False)
        self.ctx.add_secret(token)
        # Renew a little early so a page never starts with a token about to lapse.
        self._expires = time.monotonic() + max(0, int(body.get("expires_in") or 0) - 30)
        return token

    def _get(self, params: list[tuple[str, str]]) -> requests.Response:
        if self._token is None or time.monotonic() >= self._expires:
            self._token = self._fetch_token()
        self.ctx.record_call("jamf:computers-inventory/list")
        url = f"{self.base_url}/api/v3/computers-inventory"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        return self.ctx.http.get(url, params=params, headers=headers)

    def computers(self) -> Iterator[dict[str, Any]]:
        """Every computer of the paged inventory (``page`` from 0 to ``totalCount``)."""
        page = 0
        while True:
            paging = [("page", str(page)), ("page-size", str(self.page_size))]
            params = [("section", s) for s in _SECTIONS] + paging + [("sort", "id:asc")]
            response = self._get(params)
            if response.status_code == 401:  # expired early or revoked: one fresh token
                self._token = None
                response = self._get(params)
            body = check_response(response).json()
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise CollectorError("Jamf Pro inventory returned no results", permanent=False)
            self.total = int(body.get("totalCount") or 0)
            yield from results
            page += 1
            if not results or page * self.page_size >= self.total:
                return
